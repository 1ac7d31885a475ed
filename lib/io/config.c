/* config.json of a model directory: loading and typed getters with dotted keys. */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error.h"
#include "core/fsutil.h"
#include "io/model_impl.h"

int pf_model_config_load(profs_model *m)
{
    char *path = pf_path_join(m->dir, "config.json");
    if (!path) return pf_enomem("path");
    struct stat st;
    int rc = PROFS_OK;
    if (stat(path, &st) != 0) {
        if (errno != ENOENT)
            rc = pf_error(PROFS_EIO, "%s: cannot read: %s", path, strerror(errno));
        free(path);
        return rc;
    }
    json_error_t err;
    json_t *cfg = json_load_file(path, JSON_REJECT_DUPLICATES, &err);
    if (!cfg) {
        rc = json_error_code(&err) == json_error_cannot_open_file
           ? pf_error(PROFS_EIO, "%s: cannot read: %s", path, err.text)
           : pf_error(PROFS_EFORMAT, "%s: invalid JSON: %s (line %d, column %d)", path, err.text,
                      err.line, err.column);
    } else if (!json_is_object(cfg)) {
        rc = pf_error(PROFS_EFORMAT, "%s: not a JSON object", path);
        json_decref(cfg);
    } else {
        m->config = cfg;
    }
    free(path);
    return rc;
}

/* Find `key` in obj: the whole key first, else a dotted prefix naming a nested object. */
static json_t *find_key(json_t *obj, const char *key)
{
    if (!json_is_object(obj)) return NULL;
    json_t *v = json_object_get(obj, key);
    if (v) return v;
    for (const char *dot = strchr(key, '.'); dot; dot = strchr(dot + 1, '.')) {
        json_t *child = json_object_getn(obj, key, (size_t)(dot - key));
        if (json_is_object(child)) {
            json_t *r = find_key(child, dot + 1);
            if (r) return r;
        }
    }
    return NULL;
}

static const char *type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "an object";
    case JSON_ARRAY: return "an array";
    case JSON_STRING: return "a string";
    case JSON_INTEGER: return "an integer";
    case JSON_REAL: return "a real number";
    case JSON_TRUE: case JSON_FALSE: return "a boolean";
    default: return "null";
    }
}

int pf_model_config_is_null(const profs_model *m, const char *key)
{
    if (!m || !key || !m->config) return 0;
    json_t *v = find_key(m->config, key);
    return v != NULL && json_is_null(v);
}

int pf_model_config_has(const profs_model *m, const char *key)
{
    if (!m || !key || !m->config) return 0;
    json_t *v = find_key(m->config, key);
    return v != NULL && !json_is_null(v);
}

/* The value at key, non-null. */
static int get(const profs_model *m, const char *key, json_t **v)
{
    if (!m || !key) return pf_error(PROFS_EINVAL, "NULL model or config key");
    if (!m->config) return pf_error(PROFS_ENOTFOUND, "%s: no config.json", m->path);
    *v = find_key(m->config, key);
    if (!*v) return pf_error(PROFS_ENOTFOUND, "%s/config.json: no key '%s'", m->dir, key);
    if (json_is_null(*v)) return pf_error(PROFS_ENOTFOUND, "%s/config.json: key '%s' is null", m->dir, key);
    return PROFS_OK;
}

static int wrong_type(const profs_model *m, const char *key, const json_t *v, const char *want)
{
    return pf_error(PROFS_EFORMAT, "%s/config.json: key '%s' is %s, expected %s", m->dir, key,
                    type_name(v), want);
}

static int to_int(const profs_model *m, const char *key, const json_t *v, int64_t *out)
{
    if (json_is_integer(v)) { *out = (int64_t)json_integer_value(v); return PROFS_OK; }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (d == floor(d) && d >= -9.2e18 && d <= 9.2e18) { *out = (int64_t)d; return PROFS_OK; }
    }
    return wrong_type(m, key, v, "an integer");
}

int profs_model_has_config(const profs_model *m) { return m && m->config != NULL; }

int profs_model_config_int(const profs_model *m, const char *key, int64_t *out)
{
    json_t *v = NULL;
    int rc = get(m, key, &v);
    if (rc) return rc;
    int64_t x = 0;
    rc = to_int(m, key, v, &x);
    if (rc == 0 && out) *out = x;
    return rc;
}

int profs_model_config_float(const profs_model *m, const char *key, double *out)
{
    json_t *v = NULL;
    int rc = get(m, key, &v);
    if (rc) return rc;
    if (!json_is_number(v)) return wrong_type(m, key, v, "a number");
    if (out) *out = json_number_value(v);
    return PROFS_OK;
}

int profs_model_config_string(const profs_model *m, const char *key, const char **out)
{
    json_t *v = NULL;
    int rc = get(m, key, &v);
    if (rc) return rc;
    if (!json_is_string(v)) return wrong_type(m, key, v, "a string");
    if (out) *out = json_string_value(v);
    return PROFS_OK;
}

int profs_model_config_bool(const profs_model *m, const char *key, int *out)
{
    json_t *v = NULL;
    int rc = get(m, key, &v);
    if (rc) return rc;
    if (!json_is_boolean(v)) return wrong_type(m, key, v, "a boolean");
    if (out) *out = json_is_true(v);
    return PROFS_OK;
}

int profs_model_config_array_size(const profs_model *m, const char *key, size_t *out)
{
    json_t *v = NULL;
    int rc = get(m, key, &v);
    if (rc) return rc;
    if (!json_is_array(v)) return wrong_type(m, key, v, "an array");
    if (out) *out = json_array_size(v);
    return PROFS_OK;
}

static int element(const profs_model *m, const char *key, size_t index, json_t **e)
{
    json_t *v = NULL;
    int rc = get(m, key, &v);
    if (rc) return rc;
    if (!json_is_array(v)) return wrong_type(m, key, v, "an array");
    if (index >= json_array_size(v))
        return pf_error(PROFS_EINVAL, "%s/config.json: key '%s': index %zu out of range (array of %zu)",
                        m->dir, key, index, json_array_size(v));
    *e = json_array_get(v, index);
    return PROFS_OK;
}

int profs_model_config_array_int(const profs_model *m, const char *key, size_t index, int64_t *out)
{
    json_t *e = NULL;
    int rc = element(m, key, index, &e);
    if (rc) return rc;
    int64_t x = 0;
    if (!json_is_number(e) || to_int(m, key, e, &x) != 0)
        return pf_error(PROFS_EFORMAT, "%s/config.json: key '%s': element %zu is %s, expected an integer",
                        m->dir, key, index, type_name(e));
    if (out) *out = x;
    return PROFS_OK;
}

int pf_model_config_array_float(const profs_model *m, const char *key, size_t index, double *out)
{
    json_t *e = NULL;
    int rc = element(m, key, index, &e);
    if (rc) return rc;
    if (!json_is_number(e))
        return pf_error(PROFS_EFORMAT, "%s/config.json: key '%s': element %zu is %s, expected a number",
                        m->dir, key, index, type_name(e));
    if (out) *out = json_number_value(e);
    return PROFS_OK;
}

int profs_model_config_array_string(const profs_model *m, const char *key, size_t index, const char **out)
{
    json_t *e = NULL;
    int rc = element(m, key, index, &e);
    if (rc) return rc;
    if (!json_is_string(e))
        return pf_error(PROFS_EFORMAT, "%s/config.json: key '%s': element %zu is %s, expected a string",
                        m->dir, key, index, type_name(e));
    if (out) *out = json_string_value(e);
    return PROFS_OK;
}

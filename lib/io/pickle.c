/* The restricted unpickler of PyTorch state dicts (format and rules: pickle.h). */
#include "io/pickle.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "profs/common.h"

#define MAX_NDIM 64

enum kind { V_MARK, V_NONE, V_BOOL, V_INT, V_FLOAT, V_STR, V_TUPLE, V_LIST, V_DICT, V_GLOBAL, V_STORAGE, V_TENSOR };

/* The callables and classes a state dict may name. */
enum global_id { G_ODICT, G_REBUILD_TENSOR, G_REBUILD_PARAM, G_STORAGE };

static const struct allowed { const char *module, *name; int id, dtype; } ALLOWED[] = {
    {"collections", "OrderedDict", G_ODICT, 0},
    {"torch._utils", "_rebuild_tensor_v2", G_REBUILD_TENSOR, 0},
    {"torch._utils", "_rebuild_parameter", G_REBUILD_PARAM, 0},
    {"torch", "FloatStorage", G_STORAGE, PROFS_DTYPE_F32},
    {"torch", "HalfStorage", G_STORAGE, PROFS_DTYPE_F16},
    {"torch", "BFloat16Storage", G_STORAGE, PROFS_DTYPE_BF16},
    {"torch", "DoubleStorage", G_STORAGE, PROFS_DTYPE_F64},
    {"torch", "LongStorage", G_STORAGE, PROFS_DTYPE_I64},
};
#define ALLOWED_TEXT "collections.OrderedDict, torch._utils._rebuild_tensor_v2, torch._utils._rebuild_parameter " \
                     "and torch.{Float,Half,BFloat16,Double,Long}Storage"

typedef struct val {
    int kind;
    int64_t i;                 /* V_INT, V_BOOL */
    double f;                  /* V_FLOAT */
    char *s;                   /* V_STR (NUL-terminated; slen bytes) */
    size_t slen;
    struct val **items;        /* V_TUPLE, V_LIST; V_DICT: key, value, key, value ... */
    size_t n, cap;
    int odict;                 /* V_DICT made by OrderedDict() */
    const struct allowed *g;   /* V_GLOBAL, V_STORAGE (its class) */
    char *key;                 /* V_STORAGE */
    uint64_t numel;            /* V_STORAGE */
    struct val *storage;       /* V_TENSOR */
    uint64_t offset;           /* V_TENSOR */
    size_t ndim;               /* V_TENSOR */
    int64_t *shape, *stride;   /* V_TENSOR: (ndim) each */
} val;

typedef struct up {
    const char *what;
    const uint8_t *p, *end, *start;
    val **all; size_t n_all, cap_all;      /* every value, freed at the end */
    val **stack; size_t sp, cap_stack;
    val **memo; size_t n_memo;
    size_t memo_len;                       /* entries stored (MEMOIZE's index) */
} up;

static const char *kind_name(const val *v)
{
    static const char *const names[] = {"mark", "None", "bool", "int", "float", "str", "tuple", "list",
                                        "dict", "global", "storage", "tensor"};
    if (v->kind == V_DICT && v->odict) return "OrderedDict";
    return names[v->kind];
}

static long at(const up *u) { return (long)(u->p - u->start); }

static int fail(const up *u, const char *fmt, const char *a, const char *b)
{
    return pf_error(PROFS_EFORMAT, "%s: pickle byte %ld: %s%s%s", u->what, at(u) - 1, fmt, a ? a : "", b ? b : "");
}

static val *new_val(up *u, int kind)
{
    if (u->n_all == u->cap_all) {
        size_t cap = u->cap_all ? 2 * u->cap_all : 256;
        val **v = realloc(u->all, cap * sizeof *v);
        if (!v) return NULL;
        u->all = v;
        u->cap_all = cap;
    }
    val *x = calloc(1, sizeof *x);
    if (!x) return NULL;
    x->kind = kind;
    u->all[u->n_all++] = x;
    return x;
}

static int push(up *u, val *v)
{
    if (!v) return pf_enomem("pickle value");
    if (u->sp == u->cap_stack) {
        size_t cap = u->cap_stack ? 2 * u->cap_stack : 64;
        val **s = realloc(u->stack, cap * sizeof *s);
        if (!s) return pf_enomem("pickle stack");
        u->stack = s;
        u->cap_stack = cap;
    }
    u->stack[u->sp++] = v;
    return PROFS_OK;
}

static int pop(up *u, val **v, const char *op)
{
    if (u->sp == 0 || u->stack[u->sp - 1]->kind == V_MARK)
        return fail(u, op, ": the stack is empty", NULL);
    *v = u->stack[--u->sp];
    return PROFS_OK;
}

static int add_item(val *c, val *x)
{
    if (c->n == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 8;
        val **v = realloc(c->items, cap * sizeof *v);
        if (!v) return pf_enomem("pickle container");
        c->items = v;
        c->cap = cap;
    }
    c->items[c->n++] = x;
    return PROFS_OK;
}

/* Position of the topmost MARK, or -1. */
static long find_mark(const up *u)
{
    for (size_t i = u->sp; i-- > 0;)
        if (u->stack[i]->kind == V_MARK) return (long)i;
    return -1;
}

static int need(const up *u, size_t n, const char *op)
{
    if ((size_t)(u->end - u->p) < n) return fail(u, op, ": argument runs past the end of the pickle", NULL);
    return PROFS_OK;
}

static uint64_t le(const uint8_t *p, int n)
{
    uint64_t v = 0;
    for (int i = n - 1; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

static int push_tuple_from(up *u, size_t from)
{
    val *t = new_val(u, V_TUPLE);
    if (!t) return pf_enomem("pickle tuple");
    for (size_t i = from; i < u->sp; i++)
        if (add_item(t, u->stack[i])) return PROFS_ENOMEM;
    u->sp = from;
    return push(u, t);
}

static int push_str(up *u, uint64_t n, const char *op)
{
    if ((uint64_t)(u->end - u->p) < n) return fail(u, op, ": string runs past the end of the pickle", NULL);
    val *s = new_val(u, V_STR);
    if (!s || !(s->s = malloc((size_t)n + 1))) return pf_enomem("pickle string");
    memcpy(s->s, u->p, (size_t)n);
    s->s[n] = '\0';
    s->slen = (size_t)n;
    u->p += n;
    return push(u, s);
}

static int resolve_global(up *u, const char *module, const char *name)
{
    for (size_t i = 0; i < sizeof ALLOWED / sizeof ALLOWED[0]; i++)
        if (strcmp(ALLOWED[i].module, module) == 0 && strcmp(ALLOWED[i].name, name) == 0) {
            val *g = new_val(u, V_GLOBAL);
            if (!g) return pf_enomem("pickle global");
            g->g = &ALLOWED[i];
            return push(u, g);
        }
    char buf[512];
    snprintf(buf, sizeof buf, "%.200s.%.200s", module, name);
    return pf_error(PROFS_EFORMAT, "%s: pickle byte %ld: GLOBAL '%s' is not allowed (a state dict needs only "
                    ALLOWED_TEXT "); nothing was executed", u->what, at(u), buf);
}

static int op_global(up *u)
{
    const uint8_t *nl1 = memchr(u->p, '\n', (size_t)(u->end - u->p));
    const uint8_t *nl2 = nl1 ? memchr(nl1 + 1, '\n', (size_t)(u->end - nl1 - 1)) : NULL;
    if (!nl2) return fail(u, "GLOBAL", ": module and name are not two lines", NULL);
    char module[256], name[256];
    size_t lm = (size_t)(nl1 - u->p), ln = (size_t)(nl2 - nl1 - 1);
    if (lm >= sizeof module || ln >= sizeof name) return fail(u, "GLOBAL", ": name too long", NULL);
    memcpy(module, u->p, lm);
    module[lm] = '\0';
    memcpy(name, nl1 + 1, ln);
    name[ln] = '\0';
    u->p = nl2 + 1;
    return resolve_global(u, module, name);
}

static int op_stack_global(up *u)
{
    val *name, *module;
    int rc = pop(u, &name, "STACK_GLOBAL");
    if (rc == 0) rc = pop(u, &module, "STACK_GLOBAL");
    if (rc) return rc;
    if (name->kind != V_STR || module->kind != V_STR) return fail(u, "STACK_GLOBAL", ": operands are not strings", NULL);
    return resolve_global(u, module->s, name->s);
}

static int as_int(const val *v, int64_t *out)
{
    if (v->kind != V_INT) return -1;
    *out = v->i;
    return 0;
}

/* _rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks[, metadata]) */
static int rebuild_tensor(up *u, val *args, val **out)
{
    if (args->kind != V_TUPLE || args->n < 6 || args->n > 7)
        return fail(u, "REDUCE of torch._utils._rebuild_tensor_v2", ": arguments are not a tuple of 6 or 7", NULL);
    val *st = args->items[0], *size = args->items[2], *stride = args->items[3];
    int64_t off;
    if (st->kind != V_STORAGE) return fail(u, "_rebuild_tensor_v2: argument 1 is a ", kind_name(st), ", not a storage");
    if (as_int(args->items[1], &off) || off < 0)
        return fail(u, "_rebuild_tensor_v2: storage offset is not a non-negative int", NULL, NULL);
    if (size->kind != V_TUPLE || stride->kind != V_TUPLE || size->n != stride->n)
        return fail(u, "_rebuild_tensor_v2: size and stride are not tuples of one length", NULL, NULL);
    if (size->n > MAX_NDIM) return fail(u, "_rebuild_tensor_v2: more than 64 dimensions", NULL, NULL);
    if (args->items[4]->kind != V_BOOL) return fail(u, "_rebuild_tensor_v2: requires_grad is not a bool", NULL, NULL);
    if (args->items[5]->kind != V_DICT || args->items[5]->n)
        return fail(u, "_rebuild_tensor_v2: backward hooks are not an empty OrderedDict", NULL, NULL);
    if (args->n == 7 && args->items[6]->kind != V_DICT && args->items[6]->kind != V_NONE)
        return fail(u, "_rebuild_tensor_v2: metadata is not a dict", NULL, NULL);
    val *t = new_val(u, V_TENSOR);
    if (!t) return pf_enomem("pickle tensor");
    t->shape = malloc((size->n ? size->n : 1) * sizeof *t->shape);
    t->stride = malloc((size->n ? size->n : 1) * sizeof *t->stride);
    if (!t->shape || !t->stride) return pf_enomem("pickle tensor");
    t->storage = st;
    t->offset = (uint64_t)off;
    t->ndim = size->n;
    for (size_t i = 0; i < size->n; i++) {
        if (as_int(size->items[i], &t->shape[i]) || t->shape[i] < 0)
            return fail(u, "_rebuild_tensor_v2: a size is not a non-negative int", NULL, NULL);
        if (as_int(stride->items[i], &t->stride[i]) || t->stride[i] < 0)
            return fail(u, "_rebuild_tensor_v2: a stride is not a non-negative int", NULL, NULL);
    }
    *out = t;
    return PROFS_OK;
}

static int op_reduce(up *u)
{
    val *args, *fn, *res = NULL;
    int rc = pop(u, &args, "REDUCE");
    if (rc == 0) rc = pop(u, &fn, "REDUCE");
    if (rc) return rc;
    if (fn->kind != V_GLOBAL || fn->g->id == G_STORAGE) {
        char what[160];
        if (fn->kind == V_GLOBAL) snprintf(what, sizeof what, "%s.%s", fn->g->module, fn->g->name);
        else snprintf(what, sizeof what, "a %s", kind_name(fn));
        return pf_error(PROFS_EFORMAT, "%s: pickle byte %ld: REDUCE of %s is not allowed (only OrderedDict(), "
                        "_rebuild_tensor_v2 and _rebuild_parameter are); nothing was executed", u->what, at(u) - 1, what);
    }
    switch (fn->g->id) {
    case G_ODICT:
        if (args->kind != V_TUPLE || args->n != 0) return fail(u, "REDUCE of collections.OrderedDict with arguments", NULL, NULL);
        if (!(res = new_val(u, V_DICT))) return pf_enomem("pickle dict");
        res->odict = 1;
        break;
    case G_REBUILD_TENSOR:
        if ((rc = rebuild_tensor(u, args, &res))) return rc;
        break;
    default: /* G_REBUILD_PARAM(tensor, requires_grad, hooks) */
        if (args->kind != V_TUPLE || args->n != 3 || args->items[0]->kind != V_TENSOR)
            return fail(u, "REDUCE of torch._utils._rebuild_parameter: arguments are not (tensor, bool, hooks)", NULL, NULL);
        res = args->items[0];
        break;
    }
    return push(u, res);
}

static int op_build(up *u)
{
    val *state, *obj;
    int rc = pop(u, &state, "BUILD");
    if (rc == 0) rc = pop(u, &obj, "BUILD");
    if (rc) return rc;
    if (obj->kind != V_DICT || !obj->odict)
        return fail(u, "BUILD on a ", kind_name(obj), " is not allowed (only on an OrderedDict); nothing was executed");
    if (state->kind != V_DICT && state->kind != V_NONE)
        return fail(u, "BUILD state of an OrderedDict is a ", kind_name(state), ", not a dict");
    return push(u, obj);   /* the state (_metadata) is not needed */
}

/* ('storage', <Storage class>, key, location, numel) */
static int op_persid(up *u)
{
    val *pid;
    int rc = pop(u, &pid, "BINPERSID");
    if (rc) return rc;
    if (pid->kind != V_TUPLE || pid->n != 5 || pid->items[0]->kind != V_STR || strcmp(pid->items[0]->s, "storage") != 0)
        return fail(u, "BINPERSID: persistent id is not ('storage', class, key, location, numel)", NULL, NULL);
    val *cls = pid->items[1], *key = pid->items[2], *n = pid->items[4];
    if (cls->kind != V_GLOBAL || cls->g->id != G_STORAGE)
        return fail(u, "BINPERSID: storage class is not one of torch.{Float,Half,BFloat16,Double,Long}Storage", NULL, NULL);
    if (key->kind != V_STR || !key->slen || memchr(key->s, '\0', key->slen) || strchr(key->s, '/') ||
        pid->items[3]->kind != V_STR)
        return fail(u, "BINPERSID: storage key or location is not a plain string", NULL, NULL);
    if (n->kind != V_INT || n->i < 0) return fail(u, "BINPERSID: storage size is not a non-negative int", NULL, NULL);
    val *s = new_val(u, V_STORAGE);
    if (!s || !(s->key = strdup(key->s))) return pf_enomem("pickle storage");
    s->g = cls->g;
    s->numel = (uint64_t)n->i;
    return push(u, s);
}

static int dict_set(up *u, val *d, val *k, val *v)
{
    if (d->kind != V_DICT) return fail(u, "SETITEM on a ", kind_name(d), ", not a dict");
    if (k->kind == V_STR)
        for (size_t i = 0; i < d->n; i += 2)
            if (d->items[i]->kind == V_STR && strcmp(d->items[i]->s, k->s) == 0)
                return pf_error(PROFS_EFORMAT, "%s: duplicate key '%s' in a pickled dict (torch would keep the last; "
                                "refused)", u->what, k->s);
    int rc = add_item(d, k);
    return rc ? rc : add_item(d, v);
}

static int memo_put(up *u, uint64_t idx)
{
    if (u->sp == 0 || u->stack[u->sp - 1]->kind == V_MARK) return fail(u, "memo store of an empty stack", NULL, NULL);
    if (idx > (uint64_t)(u->end - u->start)) return fail(u, "memo index larger than the pickle", NULL, NULL);
    if (idx >= u->n_memo) {
        size_t n = (size_t)idx + 1 > 2 * u->n_memo ? (size_t)idx + 1 : 2 * u->n_memo;
        val **m = realloc(u->memo, n * sizeof *m);
        if (!m) return pf_enomem("pickle memo");
        memset(m + u->n_memo, 0, (n - u->n_memo) * sizeof *m);
        u->memo = m;
        u->n_memo = n;
    }
    if (!u->memo[idx]) u->memo_len++;
    u->memo[idx] = u->stack[u->sp - 1];
    return PROFS_OK;
}

static int memo_get(up *u, uint64_t idx)
{
    if (idx >= u->n_memo || !u->memo[idx]) return fail(u, "memo get of an index never stored", NULL, NULL);
    return push(u, u->memo[idx]);
}

/* Refused opcodes that pickle knows, by name. */
static const char *opcode_name(uint8_t op)
{
    switch (op) {
    case 'i': return "INST"; case 'o': return "OBJ"; case 0x81: return "NEWOBJ"; case 0x92: return "NEWOBJ_EX";
    case 'P': return "PERSID"; case 'S': return "STRING"; case 'I': return "INT"; case 'L': return "LONG";
    case 'V': return "UNICODE"; case 'F': return "FLOAT"; case 'p': return "PUT"; case 'g': return "GET";
    case 'l': return "LIST"; case 'd': return "DICT"; case 0x82: return "EXT1"; case 0x83: return "EXT2";
    case 0x84: return "EXT4"; case 0x8b: return "LONG4"; case 'B': return "BINBYTES"; case 'C': return "SHORT_BINBYTES";
    case 0x8e: return "BINBYTES8"; case 0x8f: return "EMPTY_SET"; case 0x90: return "ADDITEMS";
    case 0x91: return "FROZENSET"; case 0x96: return "BYTEARRAY8"; case 0x97: return "NEXT_BUFFER";
    case 0x98: return "READONLY_BUFFER"; case '1': return "POP_MARK"; case '2': return "DUP";
    default: return NULL;
    }
}

static int step(up *u, val **result)
{
    uint8_t op = *u->p++;
    val *a, *b, *c;
    int rc;
    long m;
    switch (op) {
    case 0x80: /* PROTO */
        if ((rc = need(u, 1, "PROTO"))) return rc;
        if (*u->p > 5) return fail(u, "PROTO: unknown protocol", NULL, NULL);
        u->p++;
        return PROFS_OK;
    case 0x95: /* FRAME */
        if ((rc = need(u, 8, "FRAME"))) return rc;
        u->p += 8;
        return PROFS_OK;
    case '.': /* STOP */
        if (u->sp != 1 || u->stack[0]->kind == V_MARK) return fail(u, "STOP with a stack that does not hold one object", NULL, NULL);
        *result = u->stack[0];
        return PROFS_OK;
    case '(': return push(u, new_val(u, V_MARK));
    case '0': { val *x; return pop(u, &x, "POP"); }
    case '}': return push(u, new_val(u, V_DICT));
    case ']': return push(u, new_val(u, V_LIST));
    case ')': return push(u, new_val(u, V_TUPLE));
    case 't':
        if ((m = find_mark(u)) < 0) return fail(u, "TUPLE without a MARK", NULL, NULL);
        if ((rc = push_tuple_from(u, (size_t)m + 1))) return rc;
        u->stack[u->sp - 2] = u->stack[u->sp - 1];   /* drop the mark */
        u->sp--;
        return PROFS_OK;
    case 0x85: case 0x86: case 0x87: { /* TUPLE1..3 */
        size_t k = (size_t)(op - 0x84);
        if (u->sp < k) return fail(u, "TUPLEn: the stack is too short", NULL, NULL);
        for (size_t i = u->sp - k; i < u->sp; i++)
            if (u->stack[i]->kind == V_MARK) return fail(u, "TUPLEn across a MARK", NULL, NULL);
        return push_tuple_from(u, u->sp - k);
    }
    case 'J': case 'K': case 'M': { /* BININT, BININT1, BININT2 */
        int n = op == 'J' ? 4 : op == 'K' ? 1 : 2;
        if ((rc = need(u, (size_t)n, "BININT"))) return rc;
        val *x = new_val(u, V_INT);
        if (!x) return pf_enomem("pickle int");
        uint64_t v = le(u->p, n);
        x->i = op == 'J' ? (int64_t)(int32_t)(uint32_t)v : (int64_t)v;
        u->p += n;
        return push(u, x);
    }
    case 0x8a: { /* LONG1 */
        if ((rc = need(u, 1, "LONG1"))) return rc;
        size_t n = *u->p++;
        if ((rc = need(u, n, "LONG1"))) return rc;
        if (n > 8) return fail(u, "LONG1: integer wider than 64 bits", NULL, NULL);
        uint64_t v = n ? le(u->p, (int)n) : 0;
        if (n && n < 8 && (u->p[n - 1] & 0x80)) v |= ~(uint64_t)0 << (8 * n);   /* sign-extend */
        val *x = new_val(u, V_INT);
        if (!x) return pf_enomem("pickle int");
        x->i = (int64_t)v;
        u->p += n;
        return push(u, x);
    }
    case 'N': return push(u, new_val(u, V_NONE));
    case 0x88: case 0x89: {
        val *x = new_val(u, V_BOOL);
        if (x) x->i = op == 0x88;
        return push(u, x);
    }
    case 'G': {
        if ((rc = need(u, 8, "BINFLOAT"))) return rc;
        uint64_t bits = 0;
        for (int i = 0; i < 8; i++) bits = (bits << 8) | u->p[i];
        val *x = new_val(u, V_FLOAT);
        if (x) memcpy(&x->f, &bits, sizeof x->f);
        u->p += 8;
        return push(u, x);
    }
    case 'X': case 'T': /* BINUNICODE, BINSTRING */
        if ((rc = need(u, 4, "BINUNICODE"))) return rc;
        u->p += 4;
        return push_str(u, le(u->p - 4, 4), op == 'X' ? "BINUNICODE" : "BINSTRING");
    case 0x8c: case 'U': /* SHORT_BINUNICODE, SHORT_BINSTRING */
        if ((rc = need(u, 1, "SHORT_BINUNICODE"))) return rc;
        u->p++;
        return push_str(u, u->p[-1], "SHORT_BINUNICODE");
    case 0x8d:
        if ((rc = need(u, 8, "BINUNICODE8"))) return rc;
        u->p += 8;
        return push_str(u, le(u->p - 8, 8), "BINUNICODE8");
    case 'c': return op_global(u);
    case 0x93: return op_stack_global(u);
    case 'R': return op_reduce(u);
    case 'b': return op_build(u);
    case 'Q': return op_persid(u);
    case 'q':
        if ((rc = need(u, 1, "BINPUT"))) return rc;
        u->p++;
        return memo_put(u, u->p[-1]);
    case 'r':
        if ((rc = need(u, 4, "LONG_BINPUT"))) return rc;
        u->p += 4;
        return memo_put(u, le(u->p - 4, 4));
    case 0x94: return memo_put(u, u->memo_len);
    default: break;
    }
    switch (op) {
    case 'h':
        if ((rc = need(u, 1, "BINGET"))) return rc;
        u->p++;
        return memo_get(u, u->p[-1]);
    case 'j':
        if ((rc = need(u, 4, "LONG_BINGET"))) return rc;
        u->p += 4;
        return memo_get(u, le(u->p - 4, 4));
    case 's':
        if ((rc = pop(u, &c, "SETITEM")) || (rc = pop(u, &b, "SETITEM")) || (rc = pop(u, &a, "SETITEM"))) return rc;
        if ((rc = dict_set(u, a, b, c))) return rc;
        return push(u, a);
    case 'u': case 'e': { /* SETITEMS, APPENDS */
        if ((m = find_mark(u)) < 1) return fail(u, op == 'u' ? "SETITEMS" : "APPENDS", " without a MARK and a container", NULL);
        val *d = u->stack[m - 1];
        size_t k = (size_t)m + 1;
        if (op == 'u') {
            if ((u->sp - k) % 2) return fail(u, "SETITEMS with an odd number of items", NULL, NULL);
            for (; k < u->sp; k += 2)
                if ((rc = dict_set(u, d, u->stack[k], u->stack[k + 1]))) return rc;
        } else {
            if (d->kind != V_LIST) return fail(u, "APPENDS to a ", kind_name(d), ", not a list");
            for (; k < u->sp; k++)
                if ((rc = add_item(d, u->stack[k]))) return rc;
        }
        u->sp = (size_t)m;
        return PROFS_OK;
    }
    case 'a':
        if ((rc = pop(u, &b, "APPEND")) || (rc = pop(u, &a, "APPEND"))) return rc;
        if (a->kind != V_LIST) return fail(u, "APPEND to a ", kind_name(a), ", not a list");
        if ((rc = add_item(a, b))) return rc;
        return push(u, a);
    default: {
        const char *name = opcode_name(op);
        char buf[96];
        snprintf(buf, sizeof buf, "opcode 0x%02x%s%s%s is not allowed in a state dict", op, name ? " (" : "",
                 name ? name : "", name ? ")" : "");
        return fail(u, buf, "; nothing was executed", NULL);
    }
    }
}

void pf_pkl_dict_free(pf_pkl_dict *d)
{
    if (!d) return;
    for (size_t i = 0; i < d->n; i++) {
        free(d->t[i].name);
        free(d->t[i].storage_key);
        free(d->t[i].shape);
        free(d->t[i].stride);
    }
    free(d->t);
    memset(d, 0, sizeof *d);
}

static int to_dict(pf_pkl_dict *out, const up *u, const val *root)
{
    if (root->kind != V_DICT)
        return pf_error(PROFS_EFORMAT, "%s: the pickle holds a %s, not a state dict", u->what, kind_name(root));
    size_t n = root->n / 2;
    out->t = calloc(n ? n : 1, sizeof *out->t);
    if (!out->t) return pf_enomem("state dict");
    for (size_t i = 0; i < n; i++) {
        const val *k = root->items[2 * i], *v = root->items[2 * i + 1];
        if (k->kind != V_STR || strlen(k->s) != k->slen || !k->slen)
            return pf_error(PROFS_EFORMAT, "%s: state dict entry %zu: key is a %s, not a tensor name", u->what, i,
                            k->kind == V_STR ? "string with a NUL byte or empty" : kind_name(k));
        if (v->kind != V_TENSOR)
            return pf_error(PROFS_EFORMAT, "%s: state dict entry '%s' is a %s, not a tensor", u->what, k->s, kind_name(v));
        pf_pkl_tensor *t = &out->t[out->n++];
        t->name = strdup(k->s);
        t->storage_key = strdup(v->storage->key);
        t->shape = malloc((v->ndim ? v->ndim : 1) * sizeof *t->shape);
        t->stride = malloc((v->ndim ? v->ndim : 1) * sizeof *t->stride);
        if (!t->name || !t->storage_key || !t->shape || !t->stride) return pf_enomem("state dict");
        t->dtype = v->storage->g->dtype;
        t->storage_numel = v->storage->numel;
        t->offset = v->offset;
        t->ndim = v->ndim;
        memcpy(t->shape, v->shape, v->ndim * sizeof *t->shape);
        memcpy(t->stride, v->stride, v->ndim * sizeof *t->stride);
    }
    return PROFS_OK;
}

int pf_pkl_parse(pf_pkl_dict *out, const char *what, const uint8_t *data, size_t len)
{
    memset(out, 0, sizeof *out);
    up u = { .what = what, .p = data, .end = data + len, .start = data };
    val *root = NULL;
    int rc = PROFS_OK;
    while (rc == 0 && !root) {
        if (u.p >= u.end) { rc = pf_error(PROFS_EFORMAT, "%s: pickle ends without STOP", what); break; }
        rc = step(&u, &root);
    }
    if (rc == 0) rc = to_dict(out, &u, root);
    for (size_t i = 0; i < u.n_all; i++) {
        free(u.all[i]->s);
        free(u.all[i]->items);
        free(u.all[i]->key);
        free(u.all[i]->shape);
        free(u.all[i]->stride);
        free(u.all[i]);
    }
    free(u.all);
    free(u.stack);
    free(u.memo);
    if (rc) pf_pkl_dict_free(out);
    return rc;
}

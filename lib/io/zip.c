/* Zip entries through minizip; inflation through zlib (see zip.h). */
#include "io/zip.h"

#include <inttypes.h>
#include <minizip/unzip.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "core/error.h"
#include "profs/common.h"

#define MAX_ENTRIES 1000000u

static int cmp_entry(const void *a, const void *b)
{
    return strcmp(((const pf_zip_entry *)a)->name, ((const pf_zip_entry *)b)->name);
}

void pf_zip_free(pf_zip_entry *e, size_t n)
{
    for (size_t i = 0; e && i < n; i++) free(e[i].name);
    free(e);
}

const pf_zip_entry *pf_zip_find(const pf_zip_entry *e, size_t n, const char *name)
{
    pf_zip_entry key = { .name = (char *)name };
    return bsearch(&key, e, n, sizeof *e, cmp_entry);
}

/* Read the current entry's header and data offset. */
static int read_entry(unzFile uf, pf_zip_entry *e, const char *path, uint64_t file_size)
{
    unz_file_info64 info;
    char name[1024];
    if (unzGetCurrentFileInfo64(uf, &info, name, sizeof name, NULL, 0, NULL, 0) != UNZ_OK)
        return pf_error(PROFS_EFORMAT, "%s: zip central directory entry cannot be read", path);
    if (info.size_filename >= sizeof name)
        return pf_error(PROFS_EFORMAT, "%s: zip entry name of %lu bytes is too long", path, (unsigned long)info.size_filename);
    if (info.flag & 1) return pf_error(PROFS_EUNSUPPORTED, "%s: zip entry '%s' is encrypted", path, name);
    if (info.compression_method != 0 && info.compression_method != Z_DEFLATED)
        return pf_error(PROFS_EUNSUPPORTED, "%s: zip entry '%s' uses compression method %lu (only stored and deflated "
                        "entries are read)", path, name, (unsigned long)info.compression_method);
    if (info.compression_method == 0 && info.compressed_size != info.uncompressed_size)
        return pf_error(PROFS_EFORMAT, "%s: zip entry '%s' is stored but its sizes differ (%" PRIu64 " and %" PRIu64 ")",
                        path, name, (uint64_t)info.compressed_size, (uint64_t)info.uncompressed_size);
    if (unzOpenCurrentFile(uf) != UNZ_OK)
        return pf_error(PROFS_EFORMAT, "%s: zip entry '%s': its local header cannot be read (it lies past the end of "
                        "the archive or is damaged)", path, name);
    uint64_t off = unzGetCurrentFileZStreamPos64(uf);
    unzCloseCurrentFile(uf);
    if (off > file_size || info.compressed_size > file_size - off)
        return pf_error(PROFS_EFORMAT, "%s: zip entry '%s': data [%" PRIu64 ", %" PRIu64 ") extends past the end of the "
                        "archive (%" PRIu64 " bytes)", path, name, off, off + (uint64_t)info.compressed_size, file_size);
    e->name = strdup(name);
    if (!e->name) return pf_enomem("zip entry");
    e->method = (int)info.compression_method;
    e->comp_size = info.compressed_size;
    e->size = info.uncompressed_size;
    e->data_off = off;
    e->crc = (uint32_t)info.crc;
    return PROFS_OK;
}

int pf_zip_list(pf_zip_entry **out, size_t *n_out, const char *path, uint64_t file_size)
{
    *out = NULL;
    *n_out = 0;
    unzFile uf = unzOpen64(path);
    if (!uf) return pf_error(PROFS_EFORMAT, "%s: not a readable zip archive (no central directory)", path);
    unz_global_info64 gi;
    int rc = PROFS_OK;
    pf_zip_entry *e = NULL;
    size_t n = 0;
    if (unzGetGlobalInfo64(uf, &gi) != UNZ_OK) { rc = pf_error(PROFS_EFORMAT, "%s: zip directory cannot be read", path); goto done; }
    if (gi.number_entry > MAX_ENTRIES) {
        rc = pf_error(PROFS_EFORMAT, "%s: zip archive declares %" PRIu64 " entries (limit %u)", path,
                      (uint64_t)gi.number_entry, MAX_ENTRIES);
        goto done;
    }
    e = calloc(gi.number_entry ? (size_t)gi.number_entry : 1, sizeof *e);
    if (!e) { rc = pf_enomem("zip entries"); goto done; }
    int z = unzGoToFirstFile(uf);
    while (z == UNZ_OK && n < gi.number_entry) {
        if ((rc = read_entry(uf, &e[n], path, file_size))) goto done;
        n++;
        z = unzGoToNextFile(uf);
    }
    if ((z != UNZ_OK && z != UNZ_END_OF_LIST_OF_FILE) || n != gi.number_entry) {
        rc = pf_error(PROFS_EFORMAT, "%s: zip central directory is damaged after %zu of %" PRIu64 " entries", path, n,
                      (uint64_t)gi.number_entry);
        goto done;
    }
    qsort(e, n, sizeof *e, cmp_entry);
    for (size_t i = 1; i < n; i++)
        if (strcmp(e[i - 1].name, e[i].name) == 0) {
            rc = pf_error(PROFS_EFORMAT, "%s: zip entry '%s' appears twice", path, e[i].name);
            goto done;
        }
done:
    unzClose(uf);
    if (rc) { pf_zip_free(e, n); return rc; }
    *out = e;
    *n_out = n;
    return PROFS_OK;
}

int pf_zip_extract(void *dst, const uint8_t *map, const pf_zip_entry *e, const char *file)
{
    const uint8_t *src = map + e->data_off;
    if (e->method == 0) {
        if (e->size) memcpy(dst, src, (size_t)e->size);
        return PROFS_OK;
    }
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (inflateInit2(&zs, -MAX_WBITS) != Z_OK) return pf_enomem("inflate");
    uint64_t in_done = 0, out_done = 0;
    int z = Z_OK, rc = PROFS_OK, overflow = 0;
    for (;;) {
        if (zs.avail_in == 0 && in_done < e->comp_size) {
            uint64_t left = e->comp_size - in_done;
            zs.next_in = (Bytef *)(src + in_done);
            zs.avail_in = left > (1u << 30) ? (1u << 30) : (uInt)left;
            in_done += zs.avail_in;
        }
        uint8_t spill[64];   /* output beyond the declared size lands here, and is an error */
        int full = out_done == e->size;
        if (full) {
            zs.next_out = spill;
            zs.avail_out = sizeof spill;
        } else {
            uint64_t left = e->size - out_done;
            zs.next_out = (Bytef *)dst + out_done;
            zs.avail_out = left > (1u << 30) ? (1u << 30) : (uInt)left;
        }
        uInt before = zs.avail_out;
        z = inflate(&zs, Z_NO_FLUSH);
        uInt produced = before - zs.avail_out;
        if (full && produced) { overflow = 1; break; }
        out_done += produced;
        if (z == Z_STREAM_END) break;
        if (z == Z_BUF_ERROR && zs.avail_in == 0 && in_done == e->comp_size) break;
        if (z != Z_OK && z != Z_BUF_ERROR) break;
    }
    if (overflow)
        rc = pf_error(PROFS_EFORMAT, "%s: zip entry '%s' inflates past its declared size of %" PRIu64 " bytes", file,
                      e->name, e->size);
    else if (z != Z_STREAM_END)
        rc = pf_error(PROFS_EFORMAT, "%s: zip entry '%s': deflate data is damaged or truncated (%s)", file, e->name,
                      zs.msg ? zs.msg : "it ends early");
    else if (out_done != e->size)
        rc = pf_error(PROFS_EFORMAT, "%s: zip entry '%s' inflates to %" PRIu64 " bytes, not its declared %" PRIu64, file,
                      e->name, out_done, e->size);
    else if ((uint32_t)crc32_z(0L, dst, (z_size_t)e->size) != e->crc)
        rc = pf_error(PROFS_EFORMAT, "%s: zip entry '%s': CRC-32 mismatch (damaged data)", file, e->name);
    inflateEnd(&zs);
    return rc;
}

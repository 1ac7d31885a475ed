/* Internal: the entries of a zip archive (PyTorch's checkpoint container).
 *
 * The central directory is read by minizip (Debian's libminizip); each entry's
 * data offset is taken from it and bounds-checked against the file, so the
 * data can be used straight from a read-only mapping of the archive: torch
 * writes every entry stored (method 0, uncompressed, 64-byte aligned), and a
 * deflated entry (method 8, e.g. an archive re-zipped by another tool) is
 * inflated by zlib into a buffer of exactly its declared size, its CRC-32
 * checked. Encrypted entries, other methods, duplicate names and data that
 * lies past the end of the archive are refused, naming the entry. */
#ifndef PF_ZIP_H
#define PF_ZIP_H

#include <stddef.h>
#include <stdint.h>

typedef struct pf_zip_entry {
    char *name;
    int method;          /* 0 stored, 8 deflated */
    uint64_t comp_size;  /* bytes in the archive */
    uint64_t size;       /* bytes once inflated */
    uint64_t data_off;   /* file offset of the (compressed) data */
    uint32_t crc;
} pf_zip_entry;

/* List and validate the entries of the zip file at `path` (`file_size` bytes).
 * *out is sorted by name. */
int pf_zip_list(pf_zip_entry **out, size_t *n, const char *path, uint64_t file_size);
void pf_zip_free(pf_zip_entry *e, size_t n);
/* Entry `name`, or NULL. */
const pf_zip_entry *pf_zip_find(const pf_zip_entry *e, size_t n, const char *name);
/* The whole content of an entry into dst (e->size bytes), from the mapped
 * archive `map`: copied when stored, inflated (exact size and CRC checked)
 * when deflated. `file` names the archive in messages. */
int pf_zip_extract(void *dst, const uint8_t *map, const pf_zip_entry *e, const char *file);

#endif

/**
 * @file common.h
 * @brief libprofs conventions shared by every part: error codes, dtypes,
 *        progress callbacks, version queries.
 *
 * Conventions (see docs/guide.md):
 * - Every fallible function returns `int`: 0 (#PROFS_OK) or a negative
 *   `PROFS_E*` code from the fixed list below. Codes are never renumbered.
 * - On error, profs_last_error() holds this thread's detailed message
 *   (which file, which tensor, which field). It is never NULL.
 * - Outputs come first, then inputs. Constructors take `T **out`; `*out` is
 *   set only on success. Destructors accept NULL.
 * - Borrowed pointers say how long they live.
 * - The library never prints, never exits, never aborts; it keeps no global
 *   state except the thread-local error message. Different handles may be
 *   used from different threads at the same time.
 */
#ifndef PROFS_COMMON_H
#define PROFS_COMMON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(PROFS_BUILDING) && defined(__GNUC__)
#  define PROFS_API __attribute__((visibility("default")))
#else
#  define PROFS_API
#endif

#if defined(__GNUC__)
#  define PROFS_NODISCARD __attribute__((warn_unused_result))
#else
#  define PROFS_NODISCARD
#endif

/** Result codes. Fixed numbers: never renumbered, retired codes stay reserved. */
typedef enum profs_status {
    PROFS_OK           =   0, /**< success */
    PROFS_EINVAL       =  -1, /**< invalid argument (NULL pointer, out-of-range value) */
    PROFS_ENOMEM       =  -2, /**< out of memory */
    PROFS_EIO          =  -3, /**< operating-system I/O error (open, read, write, rename, mmap) */
    PROFS_EFORMAT      =  -4, /**< malformed input file or data */
    PROFS_EUNSUPPORTED =  -5, /**< valid input that libprofs does not implement */
    PROFS_ESHAPE       =  -6, /**< sizes or shapes do not match */
    PROFS_ENUMERIC     =  -7, /**< NaN/Inf, or a numerical routine failed */
    PROFS_ECANCELLED   =  -8, /**< a progress callback asked to stop */
    PROFS_ESTATE       =  -9, /**< the handle is not in a state that allows this call */
    PROFS_EBUFS        = -10, /**< caller's buffer too small; the needed size was reported */
    PROFS_ENOTFOUND    = -11, /**< a named tensor, key, token or file does not exist */
    PROFS_EEXIST       = -12  /**< the destination exists or is the source itself */
} profs_status;

/** Fixed English text for a result code ("unknown error" for unknown codes). Never NULL. */
PROFS_API const char *profs_strerror(int code);

/**
 * This thread's most recent detailed error message, e.g.
 * "model-00002-of-00003.safetensors: tensor 'x': data_offsets [0, 10) do not match shape [4, 4] x F32".
 * Never NULL (empty string when no error happened on this thread).
 * Valid until the next libprofs call on this thread.
 */
PROFS_API const char *profs_last_error(void);

/** Clear this thread's error message. */
PROFS_API void profs_clear_error(void);

/** Version of the library actually loaded ("0.1.0"). Compare with PROFS_VERSION_STRING. */
PROFS_API const char *profs_version_string(void);
/** MAJOR * 10000 + MINOR * 100 + PATCH of the library actually loaded. */
PROFS_API int profs_version_number(void);

/** Element types of tensors. Fixed numbers. */
typedef enum profs_dtype {
    PROFS_DTYPE_F32  = 0,
    PROFS_DTYPE_F16  = 1,
    PROFS_DTYPE_BF16 = 2,
    PROFS_DTYPE_F64  = 3,
    PROFS_DTYPE_I8   = 4,
    PROFS_DTYPE_I16  = 5,
    PROFS_DTYPE_I32  = 6,
    PROFS_DTYPE_I64  = 7,
    PROFS_DTYPE_U8   = 8,
    PROFS_DTYPE_U16  = 9,
    PROFS_DTYPE_U32  = 10,
    PROFS_DTYPE_U64  = 11,
    PROFS_DTYPE_BOOL = 12,
    PROFS_DTYPE_F8_E4M3 = 13,
    PROFS_DTYPE_F8_E5M2 = 14,
    PROFS_DTYPE_COUNT_  = 15  /**< number of dtypes; not a dtype */
} profs_dtype;

/** Size in bytes of one element of @p dtype; 0 for an unknown dtype. */
PROFS_API size_t profs_dtype_size(int dtype);
/** The safetensors name of @p dtype ("F32", "BF16", ...); NULL for an unknown dtype. */
PROFS_API const char *profs_dtype_name(int dtype);
/**
 * Parse a safetensors dtype name.
 * @param[out] dtype the dtype
 * @param name "F32", "BF16", ... (case-sensitive, as in safetensors headers)
 * @return PROFS_OK, or PROFS_ENOTFOUND for an unknown name.
 */
PROFS_API int profs_dtype_from_name(int *dtype, const char *name);

/**
 * Progress callback of long operations.
 * @param userdata the pointer the caller passed with the callback
 * @param stage    short lowercase name of the current stage ("save", "collect", ...)
 * @param done     units done so far in this stage
 * @param total    units in this stage (0 when unknown)
 * @return 0 to continue; any other value cancels the operation, which then
 *         cleans up and returns #PROFS_ECANCELLED.
 */
typedef int (*profs_progress_fn)(void *userdata, const char *stage, uint64_t done, uint64_t total);

#ifdef __cplusplus
}
#endif
#endif /* PROFS_COMMON_H */

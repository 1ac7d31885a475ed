/* Internal: a restricted unpickler for PyTorch state dicts.
 *
 * What torch.save writes as data.pkl (protocol 2, as every torch >= 1.6 and
 * transformers 4's save_pretrained wrote it), disassembled:
 *
 *   PROTO 2
 *   GLOBAL 'collections OrderedDict'  EMPTY_TUPLE  REDUCE       -> the state dict
 *   MARK
 *     BINUNICODE 'model.embed_tokens.weight'                   key
 *     GLOBAL 'torch._utils _rebuild_tensor_v2'                 value: a REDUCE of
 *     MARK                                                       (args tuple)
 *       MARK 'storage' GLOBAL 'torch FloatStorage' '0' 'cpu' 6 TUPLE
 *       BINPERSID                                               storage: persistent id
 *       0                                                       storage_offset (elements)
 *       (2, 3) TUPLE2                                           size
 *       (3, 1) TUPLE2                                           stride (elements)
 *       NEWFALSE                                                requires_grad
 *       GLOBAL 'collections OrderedDict' EMPTY_TUPLE REDUCE     backward_hooks
 *     TUPLE  REDUCE
 *     ...                                                       more key/value pairs
 *   SETITEMS
 *   EMPTY_DICT '_metadata' OrderedDict(...) SETITEM  BUILD      state of the OrderedDict
 *   STOP
 *
 * with BINPUT/BINGET memo references everywhere (a tensor seen twice, a
 * storage shared by tied weights). Protocol-2 pickles made by Python 3 name
 * builtins the Python 2 way (__builtin__, copy_reg); none of those is needed.
 *
 * Allowed, and nothing else:
 *   GLOBALs  collections.OrderedDict, torch._utils._rebuild_tensor_v2,
 *            torch._utils._rebuild_parameter, torch.{Float,Half,BFloat16,
 *            Double,Long}Storage (only inside a persistent id);
 *   REDUCE   of OrderedDict with () ; of _rebuild_tensor_v2 with (storage,
 *            offset, size, stride, requires_grad, hooks[, metadata]); of
 *            _rebuild_parameter with (tensor, requires_grad, hooks);
 *   BUILD    on an OrderedDict (its state, e.g. _metadata, is dropped);
 *   BINPERSID of ('storage', <Storage class>, key, location, numel);
 *   opcodes  PROTO FRAME STOP MARK POP EMPTY_{DICT,LIST,TUPLE} TUPLE TUPLE1-3
 *            BININT BININT1 BININT2 LONG1 NONE NEWTRUE NEWFALSE BINFLOAT
 *            BINUNICODE SHORT_BINUNICODE BINUNICODE8 BINSTRING SHORT_BINSTRING
 *            GLOBAL STACK_GLOBAL REDUCE BUILD BINPERSID BINPUT LONG_BINPUT
 *            MEMOIZE BINGET LONG_BINGET SETITEM SETITEMS APPEND APPENDS.
 * Anything else is refused by name: a malicious pickle is an error, nothing
 * in it is ever called. The result must be a dict of string keys (no
 * duplicates) to tensors. Sizes are bounded by the pickle's length. */
#ifndef PF_PICKLE_H
#define PF_PICKLE_H

#include <stddef.h>
#include <stdint.h>

typedef struct pf_pkl_tensor {
    char *name;
    char *storage_key;      /* zip entry <prefix>/data/<key> */
    int dtype;              /* PROFS_DTYPE_* of the storage */
    uint64_t storage_numel; /* elements the persistent id declares */
    uint64_t offset;        /* storage_offset, elements */
    size_t ndim;
    int64_t *shape;         /* (ndim) */
    int64_t *stride;        /* (ndim), elements */
} pf_pkl_tensor;

typedef struct pf_pkl_dict {
    size_t n;
    pf_pkl_tensor *t;       /* (n) in pickle order */
} pf_pkl_dict;

/* Parse data.pkl bytes into a state dict. `what` names the source in messages. */
int pf_pkl_parse(pf_pkl_dict *out, const char *what, const uint8_t *data, size_t len);
void pf_pkl_dict_free(pf_pkl_dict *d);

#endif

/* Internal: the instruction sets of the processor the library runs on, read at
 * run time (cpuid, and the operating system's support for the register state
 * through xgetbv), never assumed from the build. */
#ifndef PF_CPU_H
#define PF_CPU_H

enum pf_isa {
    PF_ISA_AVX2 = 1u << 0,
    PF_ISA_FMA = 1u << 1,
    PF_ISA_AVX512F = 1u << 2,
    PF_ISA_AVX512BW = 1u << 3,
    PF_ISA_AVX512_BF16 = 1u << 4,
    PF_ISA_AVX512_VNNI = 1u << 5,
    PF_ISA_AVX_VNNI = 1u << 6,
    PF_ISA_AMX_TILE = 1u << 7,
    PF_ISA_AMX_BF16 = 1u << 8,
    PF_ISA_AMX_INT8 = 1u << 9,
};

/* The instruction sets this processor and operating system can run, less those
 * named in the environment variable PROFS_DISABLE_ISA (a comma-separated list of
 * pf_isa_name() names, for tests and diagnosis; unknown names are ignored). AMX
 * counts only when the kernel grants this process the tile state
 * (arch_prctl ARCH_REQ_XCOMP_PERM, requested here; a per-process permission). */
unsigned pf_cpu_isa(void);

/* The lscpu-style name of one pf_isa bit ("amx_bf16", "avx512_bf16", ...). */
const char *pf_isa_name(unsigned bit);

#endif

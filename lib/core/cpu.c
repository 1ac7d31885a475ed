/* Run-time detection of the instruction sets (see cpu.h). */
#include "core/cpu.h"

#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#include <sys/syscall.h>
#include <unistd.h>

#define PF_ARCH_REQ_XCOMP_PERM 0x1023
#define PF_XFEATURE_XTILEDATA 18

static unsigned long long xgetbv0(void)
{
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
}

static unsigned detect(void)
{
    unsigned a, b, c, d, isa = 0;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return 0;
    int osxsave = (c >> 27) & 1, fma = (c >> 12) & 1;
    if (!osxsave) return 0;
    unsigned long long xcr0 = xgetbv0();
    int ymm = (xcr0 & 0x6) == 0x6, zmm = ymm && (xcr0 & 0xe0) == 0xe0, tiles = (xcr0 & 0x60000) == 0x60000;
    unsigned max = __get_cpuid_max(0, NULL);
    if (max < 7) return 0;
    unsigned b7, c7, d7, a71 = 0, b71, c71, d71;
    __cpuid_count(7, 0, a, b7, c7, d7);
    __cpuid_count(7, 1, a71, b71, c71, d71);
    if (ymm && ((b7 >> 5) & 1)) isa |= PF_ISA_AVX2;
    if (ymm && fma) isa |= PF_ISA_FMA;
    if (ymm && ((a71 >> 4) & 1)) isa |= PF_ISA_AVX_VNNI;
    if (zmm && ((b7 >> 16) & 1)) {
        isa |= PF_ISA_AVX512F;
        if ((b7 >> 30) & 1) isa |= PF_ISA_AVX512BW;
        if ((c7 >> 11) & 1) isa |= PF_ISA_AVX512_VNNI;
        if ((a71 >> 5) & 1) isa |= PF_ISA_AVX512_BF16;
    }
    if (tiles && ((d7 >> 24) & 1) && syscall(SYS_arch_prctl, PF_ARCH_REQ_XCOMP_PERM, PF_XFEATURE_XTILEDATA) == 0) {
        isa |= PF_ISA_AMX_TILE;
        if ((d7 >> 22) & 1) isa |= PF_ISA_AMX_BF16;
        if ((d7 >> 25) & 1) isa |= PF_ISA_AMX_INT8;
    }
    return isa;
}
#else
static unsigned detect(void) { return 0; }
#endif

static const struct { unsigned bit; const char *name; } names[] = {
    {PF_ISA_AVX2, "avx2"},         {PF_ISA_FMA, "fma"},
    {PF_ISA_AVX512F, "avx512f"},   {PF_ISA_AVX512BW, "avx512bw"},
    {PF_ISA_AVX512_BF16, "avx512_bf16"}, {PF_ISA_AVX512_VNNI, "avx512_vnni"},
    {PF_ISA_AVX_VNNI, "avx_vnni"}, {PF_ISA_AMX_TILE, "amx_tile"},
    {PF_ISA_AMX_BF16, "amx_bf16"}, {PF_ISA_AMX_INT8, "amx_int8"},
};

const char *pf_isa_name(unsigned bit)
{
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (names[i].bit == bit) return names[i].name;
    return "?";
}

unsigned pf_cpu_isa(void)
{
    unsigned isa = detect();
    const char *off = getenv("PROFS_DISABLE_ISA");
    while (off && *off) {
        size_t n = strcspn(off, ", ");
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
            if (strlen(names[i].name) == n && !strncmp(off, names[i].name, n)) isa &= ~names[i].bit;
        off += n;
        off += strspn(off, ", ");
    }
    if (!(isa & PF_ISA_AMX_TILE)) isa &= ~(PF_ISA_AMX_BF16 | PF_ISA_AMX_INT8);
    return isa;
}

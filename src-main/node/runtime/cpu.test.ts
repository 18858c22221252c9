/** @file Tests of the CPU facts recorded with benchmarks. */
import { describe, expect, it } from 'vitest';
import { cpuInfo, parseCpuInfo } from './cpu.ts';

const X86 = `processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8480+
physical id\t: 0
cpu cores\t: 56
flags\t\t: fpu sse avx avx2 avx512f avx512_vnni amx_bf16 amx_tile amx_int8

processor\t: 1
physical id\t: 1
cpu cores\t: 56
flags\t\t: fpu
`;

const ARM = `processor\t: 0
BogoMIPS\t: 50.00
Features\t: fp asimd evtstrm aes sha1 sha2 crc32 atomics fphp asimdhp
CPU implementer\t: 0x41
`;

describe('parseCpuInfo', () => {
  it('reads model, physical cores and x86 flags from the first processor', () => {
    expect(parseCpuInfo(X86)).toEqual({
      model: 'Intel(R) Xeon(R) Platinum 8480+',
      physicalCores: 112,
      flags: { avx2: true, avx512f: true, avx512_vnni: true, avx_vnni: false, amx: true },
    });
  });

  it('says false on ARM, which has none of these extensions, and unknown when there are no flags at all', () => {
    expect(parseCpuInfo(ARM).flags).toEqual({
      avx2: false,
      avx512f: false,
      avx512_vnni: false,
      avx_vnni: false,
      amx: false,
    });
    expect(parseCpuInfo('').flags.avx2).toBe('unknown');
    expect(parseCpuInfo('').model).toBe('unknown');
  });
});

describe('cpuInfo', () => {
  it('describes this machine', () => {
    const c = cpuInfo();
    expect(c.logicalCores).toBeGreaterThan(0);
    expect(c.model.length).toBeGreaterThan(0);
    if (c.platform === 'linux' && c.arch === 'x64') expect(typeof c.flags.avx2).toBe('boolean');
    expect(cpuInfo()).toBe(c);
  });
});

//! Which CPU features machine code needs, read off its instructions with iced-x86, and whether
//! this CPU has them: code that needs a feature the CPU lacks is refused before it is sealed or
//! called, instead of dying of SIGILL.
//!
//! `POLYLINK_HIDE_CPU_FEATURES=AVX2,BMI2` (iced-x86's names) makes this module treat those
//! features as absent, so the refusal can be exercised on a CPU that has everything.

use iced_x86::{CpuidFeature, Decoder, DecoderOptions};

use crate::{Error, Result};

/// The features `code` uses, in first-use order, without the x86-64 baseline every CPU has.
/// The bytes are decoded linearly from the start, as raw code is laid out.
pub fn required_features(code: &[u8]) -> Vec<CpuidFeature> {
    let mut found = Vec::new();
    let mut decoder = Decoder::new(64, code, DecoderOptions::NONE);
    while decoder.can_decode() {
        for &feature in decoder.decode().cpuid_features() {
            if !is_baseline(feature) && !found.contains(&feature) {
                found.push(feature);
            }
        }
    }
    found
}

/// Refuses `code` (called `name` in the error) when any instruction in it, decoded linearly,
/// needs a feature this CPU lacks, or one this module cannot check. Code that is a function
/// is better checked whole, by [`crate::check_code`], which checks features too.
pub fn check(name: &str, code: &[u8]) -> Result<()> {
    for feature in required_features(code) {
        let feature_name = format!("{feature:?}");
        match available(feature) {
            Some(true) => {}
            Some(false) => {
                return Err(Error::MissingCpuFeature {
                    name: name.to_owned(),
                    feature: feature_name,
                });
            }
            None => {
                return Err(Error::UncheckableCpuFeature {
                    name: name.to_owned(),
                    feature: feature_name,
                });
            }
        }
    }
    Ok(())
}

/// Whether this CPU has `feature`; `None` when this module cannot tell.
pub fn available(feature: CpuidFeature) -> Option<bool> {
    if is_baseline(feature) {
        return Some(true);
    }
    if hidden(feature) {
        return Some(false);
    }
    use CpuidFeature as F;
    use std::arch::is_x86_feature_detected as has;
    Some(match feature {
        F::SSE3 => has!("sse3"),
        F::SSSE3 => has!("ssse3"),
        F::SSE4_1 => has!("sse4.1"),
        F::SSE4_2 => has!("sse4.2"),
        F::SSE4A => has!("sse4a"),
        F::POPCNT => has!("popcnt"),
        F::LZCNT => has!("lzcnt"),
        F::BMI1 => has!("bmi1"),
        F::BMI2 => has!("bmi2"),
        F::ADX => has!("adx"),
        F::MOVBE => has!("movbe"),
        F::AES => has!("aes"),
        F::PCLMULQDQ => has!("pclmulqdq"),
        F::SHA => has!("sha"),
        F::RDRAND => has!("rdrand"),
        F::RDSEED => has!("rdseed"),
        F::F16C => has!("f16c"),
        F::FMA => has!("fma"),
        F::AVX => has!("avx"),
        F::AVX2 => has!("avx2"),
        F::AVX512F => has!("avx512f"),
        F::AVX512BW => has!("avx512bw"),
        F::AVX512CD => has!("avx512cd"),
        F::AVX512DQ => has!("avx512dq"),
        F::AVX512VL => has!("avx512vl"),
        F::AVX512_IFMA => has!("avx512ifma"),
        F::AVX512_VBMI => has!("avx512vbmi"),
        F::AVX512_VBMI2 => has!("avx512vbmi2"),
        F::AVX512_VNNI => has!("avx512vnni"),
        F::AVX512_BITALG => has!("avx512bitalg"),
        F::AVX512_VPOPCNTDQ => has!("avx512vpopcntdq"),
        F::AVX512_BF16 => has!("avx512bf16"),
        F::AVX512_FP16 => has!("avx512fp16"),
        F::GFNI => has!("gfni"),
        F::VAES => has!("vaes"),
        F::VPCLMULQDQ => has!("vpclmulqdq"),
        F::CMPXCHG16B => has!("cmpxchg16b"),
        F::XSAVE => has!("xsave"),
        F::RTM => has!("rtm"),
        _ => return None,
    })
}

/// What every x86-64 CPU has, so code may use it without asking.
pub(crate) fn is_baseline(feature: CpuidFeature) -> bool {
    use CpuidFeature as F;
    matches!(
        feature,
        F::INTEL8086
            | F::INTEL186
            | F::INTEL286
            | F::INTEL386
            | F::INTEL486
            | F::X64
            | F::CPUID
            | F::FPU
            | F::FPU287
            | F::FPU387
            | F::CMOV
            | F::CX8
            | F::FXSR
            | F::MMX
            | F::SSE
            | F::SSE2
            | F::MULTIBYTENOP
            | F::PAUSE
            | F::SYSCALL
            | F::TSC
            | F::CLFSH
    )
}

/// Whether `POLYLINK_HIDE_CPU_FEATURES`, read once per process, hides `feature`.
fn hidden(feature: CpuidFeature) -> bool {
    static HIDDEN: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    let hidden = HIDDEN.get_or_init(|| {
        let list = std::env::var_os("POLYLINK_HIDE_CPU_FEATURES").unwrap_or_default();
        list.to_string_lossy()
            .split(',')
            .map(|name| name.trim().to_ascii_uppercase())
            .filter(|name| !name.is_empty())
            .collect()
    });
    !hidden.is_empty() && hidden.contains(&format!("{feature:?}").to_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_integer_code_needs_nothing_beyond_x86_64() {
        // mov rax, rdi; add rax, rsi; ret
        assert_eq!(
            required_features(&[0x48, 0x89, 0xf8, 0x48, 0x01, 0xf0, 0xc3]),
            []
        );
    }

    #[test]
    fn avx2_code_is_seen_to_need_avx2() {
        // vpaddd ymm0, ymm1, ymm2; vzeroupper; ret
        let code = [0xc5, 0xf5, 0xfe, 0xc2, 0xc5, 0xf8, 0x77, 0xc3];
        assert_eq!(
            required_features(&code),
            [CpuidFeature::AVX2, CpuidFeature::AVX]
        );
    }
}

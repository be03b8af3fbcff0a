//! Loops over f32 slices compiled for the widest vector unit this CPU has, picked at run time
//! (the binary itself targets baseline x86-64). Each is written over fixed-width lane arrays so
//! the compiler vectorises it, with a scalar tail; `exp` is branch-free for the same reason.

const LANES: usize = 16;

/// Defines `pub fn $name` that runs its body compiled for AVX-512, AVX2 + FMA or neither.
macro_rules! dispatch {
    ($(#[$doc:meta])* fn $name:ident($($arg:ident: $ty:ty),*) -> $ret:ty $body:block) => {
        $(#[$doc])*
        pub fn $name($($arg: $ty),*) -> $ret {
            #[inline(always)]
            fn portable($($arg: $ty),*) -> $ret $body
            #[cfg(target_arch = "x86_64")]
            {
                #[target_feature(enable = "avx512f")]
                unsafe fn avx512($($arg: $ty),*) -> $ret { portable($($arg),*) }
                #[target_feature(enable = "avx2,fma")]
                unsafe fn avx2($($arg: $ty),*) -> $ret { portable($($arg),*) }
                if std::arch::is_x86_feature_detected!("avx512f") {
                    // SAFETY: the CPU has the features the function was compiled for.
                    return unsafe { avx512($($arg),*) };
                }
                if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
                    // SAFETY: as above.
                    return unsafe { avx2($($arg),*) };
                }
            }
            portable($($arg),*)
        }
    };
}

dispatch! {
    /// The largest element (NaN-ignoring, like `f32::max`).
    fn max(row: &[f32]) -> f32 {
        let mut lanes = [f32::NEG_INFINITY; LANES];
        let blocks = row.chunks_exact(LANES);
        let tail = blocks.remainder();
        for block in blocks {
            for (m, &x) in lanes.iter_mut().zip(block) {
                *m = m.max(x);
            }
        }
        tail.iter().chain(&lanes).fold(f32::NEG_INFINITY, |m, &x| m.max(x))
    }
}

dispatch! {
    /// Replaces each `x` by `exp(x - shift)` and returns their sum.
    fn exp_shifted_sum(row: &mut [f32], shift: f32) -> f32 {
        let mut lanes = [0f32; LANES];
        let mut blocks = row.chunks_exact_mut(LANES);
        for block in &mut blocks {
            for (s, x) in lanes.iter_mut().zip(block.iter_mut()) {
                *x = exp(*x - shift);
                *s += *x;
            }
        }
        let mut sum: f32 = lanes.iter().sum();
        for x in blocks.into_remainder() {
            *x = exp(*x - shift);
            sum += *x;
        }
        sum
    }
}

dispatch! {
    /// Multiplies every element by `factor`.
    fn scale(row: &mut [f32], factor: f32) -> () {
        for x in row.iter_mut() {
            *x *= factor;
        }
    }
}

/// `e^x` for `x <= 0` (shifted logits, masked scores), to within 2 ulp: `x = n ln 2 + r` with
/// `|r| <= ln 2 / 2`, `e^r` by its degree-7 Taylor polynomial (truncation error < 3e-9), `2^n`
/// built in the exponent bits. Below -87 (where `e^x` nears the subnormals) it is exactly 0, as
/// for a masked score (-inf): a tiny nonzero probability would make the matmuls that read it
/// produce subnormals, which the CPU computes a hundred times slower. Branch-free, so it
/// vectorises.
#[inline(always)]
pub fn exp(x: f32) -> f32 {
    // Adding 1.5 * 2^23 rounds to an integer and leaves it in the low mantissa bits.
    const ROUND: f32 = 12_582_912.0;
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    const LOWEST: f32 = -87.0;
    let clamped = x.max(LOWEST);
    let shifted = clamped * std::f32::consts::LOG2_E + ROUND;
    let n = shifted - ROUND;
    let r = (clamped - n * LN2_HI) - n * LN2_LO;
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (1.0 / 6.0
                    + r * (1.0 / 24.0
                        + r * (1.0 / 120.0 + r * (1.0 / 720.0 + r * (1.0 / 5040.0)))))));
    let n = shifted.to_bits().wrapping_sub(ROUND.to_bits()) as i32;
    let value = p * f32::from_bits(((n + 127) as u32) << 23);
    if x < LOWEST {
        0.0
    } else {
        value
    }
}

/// The logistic function `1 / (1 + e^-x)`, through `e^-|x|` so that `exp` only sees `x <= 0`.
#[inline(always)]
fn sigmoid(x: f32) -> f32 {
    let e = exp(-x.abs());
    let r = 1.0 / (1.0 + e);
    if x >= 0.0 {
        r
    } else {
        e * r
    }
}

dispatch! {
    /// `out = silu(gate) * up`, elementwise (`silu(g) = g sigmoid(g)`).
    fn swiglu(gate: &[f32], up: &[f32], out: &mut [f32]) -> () {
        let n = out.len();
        let (gate, up) = (&gate[..n], &up[..n]);
        for i in 0..n {
            out[i] = gate[i] * sigmoid(gate[i]) * up[i];
        }
    }
}

dispatch! {
    /// The gradients of `silu(gate) * up` with respect to `gate` and `up`, given the output's
    /// gradient `d_out`: `silu'(g) = s (1 + g (1 - s))` with `s = sigmoid(g)`.
    fn swiglu_backward(gate: &[f32], up: &[f32], d_out: &[f32], d_gate: &mut [f32], d_up: &mut [f32]) -> () {
        let n = d_gate.len();
        let (gate, up, d_out, d_up) = (&gate[..n], &up[..n], &d_out[..n], &mut d_up[..n]);
        for i in 0..n {
            let (g, s) = (gate[i], sigmoid(gate[i]));
            d_up[i] = d_out[i] * g * s;
            d_gate[i] = d_out[i] * up[i] * s * (1.0 + g * (1.0 - s));
        }
    }
}

dispatch! {
    /// `out = a + b`, elementwise.
    fn add(a: &[f32], b: &[f32], out: &mut [f32]) -> () {
        let n = out.len();
        let (a, b) = (&a[..n], &b[..n]);
        for i in 0..n {
            out[i] = a[i] + b[i];
        }
    }
}

dispatch! {
    /// `row += bias`, elementwise, and returns the largest sum (NaN-ignoring).
    fn add_max(row: &mut [f32], bias: &[f32]) -> f32 {
        let n = row.len();
        let bias = &bias[..n];
        let mut lanes = [f32::NEG_INFINITY; LANES];
        let whole = n / LANES * LANES;
        for (block, bias) in row[..whole].chunks_exact_mut(LANES).zip(bias[..whole].chunks_exact(LANES)) {
            for l in 0..LANES {
                block[l] += bias[l];
                lanes[l] = lanes[l].max(block[l]);
            }
        }
        let mut m = lanes.iter().fold(f32::NEG_INFINITY, |m, &x| m.max(x));
        for i in whole..n {
            row[i] += bias[i];
            m = m.max(row[i]);
        }
        m
    }
}

dispatch! {
    /// Replaces each `x` by `exp(x + bias - shift)`: a softmax row rebuilt from its scores and
    /// its log-sum-exp `shift`.
    fn exp_biased(row: &mut [f32], bias: &[f32], shift: f32) -> () {
        let n = row.len();
        let bias = &bias[..n];
        for i in 0..n {
            row[i] = exp(row[i] + bias[i] - shift);
        }
    }
}

dispatch! {
    /// `d = p (d - shift)`, elementwise and in place: [`softmax_backward`] overwriting the
    /// probabilities' gradient with the scores'.
    fn softmax_backward_in_place(p: &[f32], d: &mut [f32], shift: f32) -> () {
        let n = d.len();
        let p = &p[..n];
        for i in 0..n {
            d[i] = p[i] * (d[i] - shift);
        }
    }
}

dispatch! {
    /// `Σ a_i b_i`.
    fn dot(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len().min(b.len());
        let mut lanes = [0f32; LANES];
        let whole = n / LANES * LANES;
        for (a, b) in a[..whole].chunks_exact(LANES).zip(b[..whole].chunks_exact(LANES)) {
            for l in 0..LANES {
                lanes[l] += a[l] * b[l];
            }
        }
        let tail: f32 = a[whole..n].iter().zip(&b[whole..n]).map(|(a, b)| a * b).sum();
        lanes.iter().sum::<f32>() + tail
    }
}

dispatch! {
    /// `out = p (d_p - shift)`, elementwise: a softmax row's input gradient when `shift` is
    /// `Σ p d_p`.
    fn softmax_backward(p: &[f32], d_p: &[f32], shift: f32, out: &mut [f32]) -> () {
        let n = out.len();
        let (p, d_p) = (&p[..n], &d_p[..n]);
        for i in 0..n {
            out[i] = p[i] * (d_p[i] - shift);
        }
    }
}

dispatch! {
    /// `out = x * factor * weight`, elementwise: one row of an RMS norm.
    fn scaled_product(x: &[f32], factor: f32, weight: &[f32], out: &mut [f32]) -> () {
        let n = out.len();
        let (x, weight) = (&x[..n], &weight[..n]);
        for i in 0..n {
            out[i] = x[i] * factor * weight[i];
        }
    }
}

dispatch! {
    /// One row of an RMS norm's input gradient, `y = x r w` with `r = 1/rms(x)`:
    /// `dx = r (dy w - x r² mean(dy w x))`.
    fn rms_norm_backward(x: &[f32], weight: &[f32], d_y: &[f32], r: f32, d_x: &mut [f32]) -> () {
        let n = d_x.len();
        let (x, weight, d_y) = (&x[..n], &weight[..n], &d_y[..n]);
        let mut lanes = [0f32; LANES];
        let whole = n / LANES * LANES;
        for start in (0..whole).step_by(LANES) {
            for (l, lane) in lanes.iter_mut().enumerate() {
                let i = start + l;
                *lane += d_y[i] * weight[i] * x[i];
            }
        }
        let tail: f32 = (whole..n).map(|i| d_y[i] * weight[i] * x[i]).sum();
        let c = (lanes.iter().sum::<f32>() + tail) * r * r / n as f32;
        for i in 0..n {
            d_x[i] = r * (d_y[i] * weight[i] - x[i] * c);
        }
    }
}

dispatch! {
    /// Rotary embedding of rows of `d = 2 half` values, halves rotated against each other
    /// (transformers' `rotate_half` convention): `y = x cos + rotate_half(x) sin` with
    /// `rotate_half(x) = (-x2, x1)`. With `inverse`, the transpose: `x = y cos + (y2, -y1) sin`
    /// taken elementwise with the tables of the rows, which is the input gradient of the
    /// forward rotation.
    fn rotate(x: &[f32], cos: &[f32], sin: &[f32], half: usize, inverse: bool, out: &mut [f32]) -> () {
        let sign = if inverse { -1.0 } else { 1.0 };
        let d = 2 * half;
        for (((out, x), cos), sin) in out.chunks_exact_mut(d).zip(x.chunks_exact(d)).zip(cos.chunks_exact(d)).zip(sin.chunks_exact(d)) {
            let (x1, x2) = x.split_at(half);
            let (out1, out2) = out.split_at_mut(half);
            let (cos1, cos2) = cos.split_at(half);
            // Forward: the sin of the half being written; inverse: of the half read.
            let (sin1, sin2) = sin.split_at(half);
            let (sin1, sin2) = if inverse { (sin2, sin1) } else { (sin1, sin2) };
            for j in 0..half {
                out1[j] = x1[j] * cos1[j] - sign * x2[j] * sin1[j];
                out2[j] = x2[j] * cos2[j] + sign * x1[j] * sin2[j];
            }
        }
    }
}

/// murmur3's 32-bit finaliser: every input bit flips each output bit with probability ~1/2.
#[inline(always)]
fn mix32(mut h: u32) -> u32 {
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^ (h >> 16)
}

dispatch! {
    /// `out = x * mask`, where element `first + i` is kept (mask 1) with probability `keep`
    /// and zeroed otherwise; the mask is a hash of the element's index under `key`, so any
    /// slice of the same tensor can be done apart from the others.
    fn dropout(x: &[f32], key: u64, first: usize, keep: f32, out: &mut [f32]) -> () {
        let n = out.len();
        let x = &x[..n];
        let (k1, k2) = (key as u32, (key >> 32) as u32);
        // Kept when the hash's top 24 bits fall below keep * 2^24.
        let threshold = (f64::from(keep) * f64::from(1u32 << 24)) as u32;
        for i in 0..n {
            let h = mix32(mix32((first + i) as u32 ^ k1) ^ k2);
            out[i] = if (h >> 8) < threshold { x[i] } else { 0.0 };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_matches_the_standard_library() {
        let mut worst = 0f32;
        for i in 0..=200_000 {
            let x = -87.0 * i as f32 / 200_000.0;
            let (got, want) = (exp(x), x.exp());
            worst = worst.max(((got - want) / want).abs());
        }
        assert!(worst < 3e-7, "relative error {worst}");
        assert_eq!(exp(0.0), 1.0);
        assert_eq!(exp(-87.5), 0.0);
        assert_eq!(exp(f32::NEG_INFINITY), 0.0);
    }

    #[test]
    fn row_kernels_handle_tails_and_every_length() {
        for len in [1, 15, 16, 17, 33, 100] {
            let row: Vec<f32> = (0..len).map(|i| ((i * 7919) % 31) as f32 * 0.37 - 5.0).collect();
            let want_max = row.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
            assert_eq!(max(&row), want_max);
            let want_sum: f32 = row.iter().map(|x| (x - want_max).exp()).sum();
            let mut shifted = row.clone();
            let sum = exp_shifted_sum(&mut shifted, want_max);
            assert!((sum - want_sum).abs() < 1e-5 * want_sum, "{len}: {sum} vs {want_sum}");
            scale(&mut shifted, 2.0);
            assert!((shifted[len - 1] - 2.0 * (row[len - 1] - want_max).exp()).abs() < 1e-6);
        }
    }

    #[test]
    fn dropout_keeps_the_asked_share_and_depends_only_on_key_and_index() {
        let x = vec![1f32; 100_003];
        let mut whole = vec![0f32; x.len()];
        dropout(&x, 42, 0, 0.95, &mut whole);
        let kept = whole.iter().filter(|&&v| v == 1.0).count() as f64 / x.len() as f64;
        assert!((kept - 0.95).abs() < 0.003, "kept {kept}");
        // In two pieces: the same mask.
        let mut pieces = vec![0f32; x.len()];
        let (a, b) = pieces.split_at_mut(777);
        dropout(&x[..777], 42, 0, 0.95, a);
        dropout(&x[777..], 42, 777, 0.95, b);
        assert_eq!(whole, pieces);
        // Another key: another mask.
        let mut other = vec![0f32; x.len()];
        dropout(&x, 43, 0, 0.95, &mut other);
        assert_ne!(whole, other);
    }

    #[test]
    fn swiglu_and_its_gradient_match_the_definition() {
        let gate: Vec<f32> =
            (0..37).map(|i| (i as f32 - 18.0) * 0.7).chain([-100.0, 100.0, 0.0]).collect();
        let up: Vec<f32> = gate.iter().map(|g| 0.3 - 0.1 * g).collect();
        let d_out: Vec<f32> = gate.iter().map(|g| 1.0 + 0.05 * g).collect();
        let n = gate.len();
        let (mut out, mut d_gate, mut d_up) = (vec![0f32; n], vec![0f32; n], vec![0f32; n]);
        swiglu(&gate, &up, &mut out);
        swiglu_backward(&gate, &up, &d_out, &mut d_gate, &mut d_up);
        let silu = |g: f64| g / (1.0 + (-g).exp());
        for i in 0..n {
            let (g, u, d) = (f64::from(gate[i]), f64::from(up[i]), f64::from(d_out[i]));
            let close =
                |got: f32, want: f64| (f64::from(got) - want).abs() <= 1e-6 * want.abs().max(1.0);
            assert!(close(out[i], silu(g) * u), "out at {g}: {} vs {}", out[i], silu(g) * u);
            assert!(close(d_up[i], d * silu(g)), "d_up at {g}");
            // Central difference of silu in f64.
            let slope = (silu(g + 1e-6) - silu(g - 1e-6)) / 2e-6;
            assert!(
                (f64::from(d_gate[i]) - d * u * slope).abs()
                    <= 1e-5 * (d * u * slope).abs().max(1.0),
                "d_gate at {g}"
            );
        }
    }
}

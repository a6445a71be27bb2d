//! CVSS scores for the vector formats that [`crate::matcher::cvss3_base`] does not
//! handle: v4.0 and v2.
//!
//! - [`cvss4_score`]: the CVSS v4.0 score (CVSS-B, -BT, -BE or -BTE, whichever the
//!   vector carries), by the MacroVector method of the specification (§8): the
//!   lookup table of the 270 MacroVector scores, the highest-severity vectors of
//!   each equivalence class and the severity-distance interpolation, step for step
//!   as FIRST's reference calculator computes it (same floating-point operations in
//!   the same order, so the same results to the last bit before rounding), rounded
//!   as the reference does since its 2024-11 fix: `round((x + 1e-6) * 10) / 10`.
//! - [`cvss2_base`]: the CVSS v2 base score, by the v2 specification's equations,
//!   evaluated exactly (in scaled integers, like a decimal calculator) and rounded
//!   half up to one decimal.

/// Number of base metrics of v4.0 (`AV` ... `SA`), which come first in [`V4_METRICS`].
const V4_BASE: usize = 11;

/// All v4.0 metrics with their valid values, in the order of the specification's
/// Table 23 (base, threat, environmental, supplemental).
const V4_METRICS: [(&str, &[&str]); 32] = [
    ("AV", &["N", "A", "L", "P"]),
    ("AC", &["L", "H"]),
    ("AT", &["N", "P"]),
    ("PR", &["N", "L", "H"]),
    ("UI", &["N", "P", "A"]),
    ("VC", &["H", "L", "N"]),
    ("VI", &["H", "L", "N"]),
    ("VA", &["H", "L", "N"]),
    ("SC", &["H", "L", "N"]),
    ("SI", &["H", "L", "N"]),
    ("SA", &["H", "L", "N"]),
    ("E", &["X", "A", "P", "U"]),
    ("CR", &["X", "H", "M", "L"]),
    ("IR", &["X", "H", "M", "L"]),
    ("AR", &["X", "H", "M", "L"]),
    ("MAV", &["X", "N", "A", "L", "P"]),
    ("MAC", &["X", "L", "H"]),
    ("MAT", &["X", "N", "P"]),
    ("MPR", &["X", "N", "L", "H"]),
    ("MUI", &["X", "N", "P", "A"]),
    ("MVC", &["X", "H", "L", "N"]),
    ("MVI", &["X", "H", "L", "N"]),
    ("MVA", &["X", "H", "L", "N"]),
    ("MSC", &["X", "H", "L", "N"]),
    ("MSI", &["X", "S", "H", "L", "N"]),
    ("MSA", &["X", "S", "H", "L", "N"]),
    ("S", &["X", "N", "P"]),
    ("AU", &["X", "N", "Y"]),
    ("R", &["X", "A", "U", "I"]),
    ("V", &["X", "D", "C"]),
    ("RE", &["X", "L", "M", "H"]),
    ("U", &["X", "Clear", "Green", "Amber", "Red"]),
];

/// Metrics that enter the score: the base metrics (whose effective value may come
/// from the modified metric `M..`), exploit maturity and the security requirements.
#[derive(Clone, Copy)]
enum M {
    Av = 0,
    Ac,
    At,
    Pr,
    Ui,
    Vc,
    Vi,
    Va,
    Sc,
    Si,
    Sa,
    E,
    Cr,
    Ir,
    Ar,
}

/// MacroVector scores (specification §8.3): EQ1..EQ6 levels as six digits → score.
/// Sorted by key. EQ3 = 2 exists only with EQ6 = 1, hence 270 entries, not 324.
#[rustfmt::skip]
const MACRO_SCORES: [(&str, f64); 270] = [
    ("000000", 10.0), ("000001", 9.9), ("000010", 9.8), ("000011", 9.5), ("000020", 9.5), ("000021", 9.2),
    ("000100", 10.0), ("000101", 9.6), ("000110", 9.3), ("000111", 8.7), ("000120", 9.1), ("000121", 8.1),
    ("000200", 9.3), ("000201", 9.0), ("000210", 8.9), ("000211", 8.0), ("000220", 8.1), ("000221", 6.8),
    ("001000", 9.8), ("001001", 9.5), ("001010", 9.5), ("001011", 9.2), ("001020", 9.0), ("001021", 8.4),
    ("001100", 9.3), ("001101", 9.2), ("001110", 8.9), ("001111", 8.1), ("001120", 8.1), ("001121", 6.5),
    ("001200", 8.8), ("001201", 8.0), ("001210", 7.8), ("001211", 7.0), ("001220", 6.9), ("001221", 4.8),
    ("002001", 9.2), ("002011", 8.2), ("002021", 7.2),
    ("002101", 7.9), ("002111", 6.9), ("002121", 5.0),
    ("002201", 6.9), ("002211", 5.5), ("002221", 2.7),
    ("010000", 9.9), ("010001", 9.7), ("010010", 9.5), ("010011", 9.2), ("010020", 9.2), ("010021", 8.5),
    ("010100", 9.5), ("010101", 9.1), ("010110", 9.0), ("010111", 8.3), ("010120", 8.4), ("010121", 7.1),
    ("010200", 9.2), ("010201", 8.1), ("010210", 8.2), ("010211", 7.1), ("010220", 7.2), ("010221", 5.3),
    ("011000", 9.5), ("011001", 9.3), ("011010", 9.2), ("011011", 8.5), ("011020", 8.5), ("011021", 7.3),
    ("011100", 9.2), ("011101", 8.2), ("011110", 8.0), ("011111", 7.2), ("011120", 7.0), ("011121", 5.9),
    ("011200", 8.4), ("011201", 7.0), ("011210", 7.1), ("011211", 5.2), ("011220", 5.0), ("011221", 3.0),
    ("012001", 8.6), ("012011", 7.5), ("012021", 5.2),
    ("012101", 7.1), ("012111", 5.2), ("012121", 2.9),
    ("012201", 6.3), ("012211", 2.9), ("012221", 1.7),
    ("100000", 9.8), ("100001", 9.5), ("100010", 9.4), ("100011", 8.7), ("100020", 9.1), ("100021", 8.1),
    ("100100", 9.4), ("100101", 8.9), ("100110", 8.6), ("100111", 7.4), ("100120", 7.7), ("100121", 6.4),
    ("100200", 8.7), ("100201", 7.5), ("100210", 7.4), ("100211", 6.3), ("100220", 6.3), ("100221", 4.9),
    ("101000", 9.4), ("101001", 8.9), ("101010", 8.8), ("101011", 7.7), ("101020", 7.6), ("101021", 6.7),
    ("101100", 8.6), ("101101", 7.6), ("101110", 7.4), ("101111", 5.8), ("101120", 5.9), ("101121", 5.0),
    ("101200", 7.2), ("101201", 5.7), ("101210", 5.7), ("101211", 5.2), ("101220", 5.2), ("101221", 2.5),
    ("102001", 8.3), ("102011", 7.0), ("102021", 5.4),
    ("102101", 6.5), ("102111", 5.8), ("102121", 2.6),
    ("102201", 5.3), ("102211", 2.1), ("102221", 1.3),
    ("110000", 9.5), ("110001", 9.0), ("110010", 8.8), ("110011", 7.6), ("110020", 7.6), ("110021", 7.0),
    ("110100", 9.0), ("110101", 7.7), ("110110", 7.5), ("110111", 6.2), ("110120", 6.1), ("110121", 5.3),
    ("110200", 7.7), ("110201", 6.6), ("110210", 6.8), ("110211", 5.9), ("110220", 5.2), ("110221", 3.0),
    ("111000", 8.9), ("111001", 7.8), ("111010", 7.6), ("111011", 6.7), ("111020", 6.2), ("111021", 5.8),
    ("111100", 7.4), ("111101", 5.9), ("111110", 5.7), ("111111", 5.7), ("111120", 4.7), ("111121", 2.3),
    ("111200", 6.1), ("111201", 5.2), ("111210", 5.7), ("111211", 2.9), ("111220", 2.4), ("111221", 1.6),
    ("112001", 7.1), ("112011", 5.9), ("112021", 3.0),
    ("112101", 5.8), ("112111", 2.6), ("112121", 1.5),
    ("112201", 2.3), ("112211", 1.3), ("112221", 0.6),
    ("200000", 9.3), ("200001", 8.7), ("200010", 8.6), ("200011", 7.2), ("200020", 7.5), ("200021", 5.8),
    ("200100", 8.6), ("200101", 7.4), ("200110", 7.4), ("200111", 6.1), ("200120", 5.6), ("200121", 3.4),
    ("200200", 7.0), ("200201", 5.4), ("200210", 5.2), ("200211", 4.0), ("200220", 4.0), ("200221", 2.2),
    ("201000", 8.5), ("201001", 7.5), ("201010", 7.4), ("201011", 5.5), ("201020", 6.2), ("201021", 5.1),
    ("201100", 7.2), ("201101", 5.7), ("201110", 5.5), ("201111", 4.1), ("201120", 4.6), ("201121", 1.9),
    ("201200", 5.3), ("201201", 3.6), ("201210", 3.4), ("201211", 1.9), ("201220", 1.9), ("201221", 0.8),
    ("202001", 6.4), ("202011", 5.1), ("202021", 2.0),
    ("202101", 4.7), ("202111", 2.1), ("202121", 1.1),
    ("202201", 2.4), ("202211", 0.9), ("202221", 0.4),
    ("210000", 8.8), ("210001", 7.5), ("210010", 7.3), ("210011", 5.3), ("210020", 6.0), ("210021", 5.0),
    ("210100", 7.3), ("210101", 5.5), ("210110", 5.9), ("210111", 4.0), ("210120", 4.1), ("210121", 2.0),
    ("210200", 5.4), ("210201", 4.3), ("210210", 4.5), ("210211", 2.2), ("210220", 2.0), ("210221", 1.1),
    ("211000", 7.5), ("211001", 5.5), ("211010", 5.8), ("211011", 4.5), ("211020", 4.0), ("211021", 2.1),
    ("211100", 6.1), ("211101", 5.1), ("211110", 4.8), ("211111", 1.8), ("211120", 2.0), ("211121", 0.9),
    ("211200", 4.6), ("211201", 1.8), ("211210", 1.7), ("211211", 0.7), ("211220", 0.8), ("211221", 0.2),
    ("212001", 5.3), ("212011", 2.4), ("212021", 1.4),
    ("212101", 2.4), ("212111", 1.2), ("212121", 0.5),
    ("212201", 1.0), ("212211", 0.3), ("212221", 0.1),
];

/// Highest-severity vectors of the EQ1 levels, as values of (AV, PR, UI).
const EQ1_MAX: [&[[u8; 3]]; 3] = [
    &[*b"NNN"],
    &[*b"ANN", *b"NLN", *b"NNP"],
    &[*b"PNN", *b"ALP"],
];
/// Highest-severity vectors of the EQ2 levels, as values of (AC, AT).
const EQ2_MAX: [&[[u8; 2]]; 2] = [&[*b"LN"], &[*b"HN", *b"LP"]];
/// Highest-severity vectors of the joint EQ3+EQ6 levels (`[eq3][eq6]`), as values
/// of (VC, VI, VA, CR, IR, AR). EQ3 = 2 with EQ6 = 0 cannot exist.
const EQ3_EQ6_MAX: [[&[[u8; 6]]; 2]; 3] = [
    [&[*b"HHHHHH"], &[*b"HHLMMH", *b"HHHMMM"]],
    [
        &[*b"LHHHHH", *b"HLHHHH"],
        &[*b"LHLHMH", *b"LHHHMM", *b"HLHMHM", *b"HLLMHH", *b"LLHHHM"],
    ],
    [&[], &[*b"LLLHHH"]],
];
/// Highest-severity vectors of the EQ4 levels, as values of (SC, SI, SA).
const EQ4_MAX: [&[[u8; 3]]; 3] = [&[*b"HSS"], &[*b"HHH"], &[*b"LLL"]];

/// Depth of the MacroVectors (maximal severity distance, plus one) per EQ level.
const EQ1_DEPTH: [u8; 3] = [1, 4, 5];
/// See [`EQ1_DEPTH`].
const EQ2_DEPTH: [u8; 2] = [1, 2];
/// See [`EQ1_DEPTH`]; `[eq3][eq6]` (EQ3 = 2 with EQ6 = 0 cannot exist).
const EQ3_EQ6_DEPTH: [[u8; 2]; 3] = [[7, 6], [8, 8], [0, 10]];
/// See [`EQ1_DEPTH`].
const EQ4_DEPTH: [u8; 3] = [6, 5, 4];

/// Severity level of a metric value, in the reference's units (0.1 per step,
/// 0.0 for the most severe value).
fn level(metric: M, value: u8) -> f64 {
    match (metric, value) {
        (M::Av, b'N') => 0.0,
        (M::Av, b'A') => 0.1,
        (M::Av, b'L') => 0.2,
        (M::Av, b'P') => 0.3,
        (M::Pr, b'N') => 0.0,
        (M::Pr, b'L') => 0.1,
        (M::Pr, b'H') => 0.2,
        (M::Ui, b'N') => 0.0,
        (M::Ui, b'P') => 0.1,
        (M::Ui, b'A') => 0.2,
        (M::Ac, b'L') => 0.0,
        (M::Ac, b'H') => 0.1,
        (M::At, b'N') => 0.0,
        (M::At, b'P') => 0.1,
        (M::Vc | M::Vi | M::Va, b'H') => 0.0,
        (M::Vc | M::Vi | M::Va, b'L') => 0.1,
        (M::Vc | M::Vi | M::Va, b'N') => 0.2,
        (M::Sc | M::Si | M::Sa, b'S') => 0.0,
        (M::Sc | M::Si | M::Sa, b'H') => 0.1,
        (M::Sc | M::Si | M::Sa, b'L') => 0.2,
        (M::Sc | M::Si | M::Sa, b'N') => 0.3,
        (M::Cr | M::Ir | M::Ar, b'H') => 0.0,
        (M::Cr | M::Ir | M::Ar, b'M') => 0.1,
        (M::Cr | M::Ir | M::Ar, b'L') => 0.2,
        (M::E, b'A') => 0.0,
        (M::E, b'P') => 0.1,
        (M::E, b'U') => 0.2,
        // Not reached with validated values.
        _ => 0.0,
    }
}

/// Score of a MacroVector (EQ levels), `None` if no such MacroVector exists.
fn macro_score(eq: [u8; 6]) -> Option<f64> {
    let key = eq.map(|d| b'0' + d);
    MACRO_SCORES
        .binary_search_by(|(k, _)| k.as_bytes().cmp(&key[..]))
        .ok()
        .map(|i| MACRO_SCORES[i].1)
}

/// A parsed, validated v4.0 vector: the value of each of [`V4_METRICS`] if given.
struct V4<'a>([Option<&'a str>; 32]);

impl<'a> V4<'a> {
    fn parse(vector: &'a str) -> Option<Self> {
        let rest = vector.strip_prefix("CVSS:4.0/")?;
        let mut values: [Option<&str>; 32] = [None; 32];
        for field in rest.split('/') {
            let (key, value) = field.split_once(':')?;
            let index = V4_METRICS.iter().position(|(k, _)| *k == key)?;
            if values[index].is_some() || !V4_METRICS[index].1.contains(&value) {
                return None;
            }
            values[index] = Some(value);
        }
        values[..V4_BASE]
            .iter()
            .all(Option::is_some)
            .then_some(V4(values))
    }

    /// The value the score uses for `metric`: the modified metric if given and not
    /// `X`, else the base value; `E:X` counts as `E:A`, `CR/IR/AR:X` as `H`.
    fn get(&self, metric: M) -> u8 {
        let raw = |i: usize| self.0[i].and_then(|v| v.bytes().next()).unwrap_or(b'X');
        let i = metric as usize;
        match metric {
            M::E => match raw(i) {
                b'X' => b'A',
                v => v,
            },
            M::Cr | M::Ir | M::Ar => match raw(i) {
                b'X' => b'H',
                v => v,
            },
            // MAV..MSA follow E, CR, IR, AR, in the order of AV..SA.
            _ => match raw(i + V4_BASE + 4) {
                b'X' => raw(i),
                v => v,
            },
        }
    }
}

/// CVSS v4.0 score (CVSS-B / CVSS-BT / CVSS-BE / CVSS-BTE: the score of a vector
/// that may carry threat and environmental metrics too), computed as FIRST's
/// reference calculator does: MacroVector lookup, then interpolation by the
/// severity distance from the MacroVector's highest-severity vectors, rounded to
/// one decimal (half up, after the reference's `1e-6` lift against floating-point
/// residue).
///
/// `None` if `vector` is not a valid v4.0 vector: it must start with `CVSS:4.0/`,
/// carry all 11 base metrics (`AV AC AT PR UI VC VI VA SC SI SA`), and every
/// metric it carries (base, threat, environmental, supplemental) must be known,
/// appear once and have a valid value. Metric order is not checked.
///
/// ```
/// use caisson_scan::cvss::cvss4_score;
/// let v = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N";
/// assert_eq!(cvss4_score(v), Some(9.3));
/// assert_eq!(cvss4_score("CVSS:4.0/AV:N"), None);
/// ```
pub fn cvss4_score(vector: &str) -> Option<f64> {
    let v = V4::parse(vector)?;
    let g = |m: M| v.get(m);

    // No impact at all on either system: 0.
    if [M::Vc, M::Vi, M::Va, M::Sc, M::Si, M::Sa]
        .iter()
        .all(|&m| g(m) == b'N')
    {
        return Some(0.0);
    }

    // The MacroVector: the level of each equivalence set EQ1..EQ6.
    let (av, pr, ui) = (g(M::Av), g(M::Pr), g(M::Ui));
    let eq1 = if av == b'N' && pr == b'N' && ui == b'N' {
        0
    } else if (av == b'N' || pr == b'N' || ui == b'N') && av != b'P' {
        1
    } else {
        2
    };
    let eq2 = u8::from(!(g(M::Ac) == b'L' && g(M::At) == b'N'));
    let (vc, vi, va) = (g(M::Vc), g(M::Vi), g(M::Va));
    let eq3 = if vc == b'H' && vi == b'H' {
        0
    } else if vc == b'H' || vi == b'H' || va == b'H' {
        1
    } else {
        2
    };
    let (sc, si, sa) = (g(M::Sc), g(M::Si), g(M::Sa));
    // SI/SA can only be "S" through MSI/MSA.
    let eq4 = if si == b'S' || sa == b'S' {
        0
    } else if sc == b'H' || si == b'H' || sa == b'H' {
        1
    } else {
        2
    };
    let eq5 = match g(M::E) {
        b'A' => 0,
        b'P' => 1,
        _ => 2,
    };
    let eq6 = u8::from(
        !((g(M::Cr) == b'H' && vc == b'H')
            || (g(M::Ir) == b'H' && vi == b'H')
            || (g(M::Ar) == b'H' && va == b'H')),
    );
    let eqs = [eq1, eq2, eq3, eq4, eq5, eq6];
    let value = macro_score(eqs)?;

    // Scores of the next lower MacroVector along each EQ (None where none exists).
    let lower = |i: usize| {
        let mut e = eqs;
        e[i] += 1;
        macro_score(e)
    };
    let lower_eq3_eq6 = match (eq3, eq6) {
        // 00 → 01 or 10: the higher of the two.
        (0, 0) => match (lower(5), lower(2)) {
            (Some(left), Some(right)) => Some(left.max(right)),
            (left, right) => left.or(right),
        },
        (0 | 1, 1) => lower(2),
        (1, 0) => lower(5),
        // 21 → 32 does not exist.
        _ => {
            let mut e = eqs;
            e[2] += 1;
            e[5] += 1;
            macro_score(e)
        }
    };
    let lowers = [lower(0), lower(1), lower_eq3_eq6, lower(3), lower(4)];

    // Severity distances from the first highest-severity vector of the MacroVector
    // that the vector does not exceed in any metric (the last candidate if none).
    let mut dist = [0.0_f64; 14];
    'search: for m1 in EQ1_MAX[usize::from(eq1)] {
        for m2 in EQ2_MAX[usize::from(eq2)] {
            for m36 in EQ3_EQ6_MAX[usize::from(eq3)][usize::from(eq6)] {
                for m4 in EQ4_MAX[usize::from(eq4)] {
                    let pairs = [
                        (M::Av, m1[0]),
                        (M::Pr, m1[1]),
                        (M::Ui, m1[2]),
                        (M::Ac, m2[0]),
                        (M::At, m2[1]),
                        (M::Vc, m36[0]),
                        (M::Vi, m36[1]),
                        (M::Va, m36[2]),
                        (M::Sc, m4[0]),
                        (M::Si, m4[1]),
                        (M::Sa, m4[2]),
                        (M::Cr, m36[3]),
                        (M::Ir, m36[4]),
                        (M::Ar, m36[5]),
                    ];
                    for (d, (m, max)) in dist.iter_mut().zip(pairs) {
                        *d = level(m, g(m)) - level(m, max);
                    }
                    if dist.iter().all(|&d| d >= 0.0) {
                        break 'search;
                    }
                }
            }
        }
    }
    let [d_av, d_pr, d_ui, d_ac, d_at, d_vc, d_vi, d_va, d_sc, d_si, d_sa, d_cr, d_ir, d_ar] = dist;
    let current = [
        d_av + d_pr + d_ui,
        d_ac + d_at,
        d_vc + d_vi + d_va + d_cr + d_ir + d_ar,
        d_sc + d_si + d_sa,
    ];
    let step = 0.1;
    let depth = [
        f64::from(EQ1_DEPTH[usize::from(eq1)]) * step,
        f64::from(EQ2_DEPTH[usize::from(eq2)]) * step,
        f64::from(EQ3_EQ6_DEPTH[usize::from(eq3)][usize::from(eq6)]) * step,
        f64::from(EQ4_DEPTH[usize::from(eq4)]) * step,
    ];

    // Each EQ with a lower MacroVector contributes the share of the score gap to it
    // that the vector's distance is of the MacroVector's depth (EQ5 always 0).
    let mut existing = 0_u32;
    let mut normalized = [0.0_f64; 5];
    for (i, lower) in lowers.iter().enumerate() {
        if let Some(lower) = lower {
            existing += 1;
            let available = value - lower;
            let percent = if i < 4 { current[i] / depth[i] } else { 0.0 };
            normalized[i] = available * percent;
        }
    }
    let mean = if existing == 0 {
        0.0
    } else {
        normalized.iter().fold(0.0, |a, b| a + b) / f64::from(existing)
    };
    let score = (value - mean).clamp(0.0, 10.0);
    Some(((score + 1e-6) * 10.0).round() / 10.0)
}

/// CVSS v2 base score from a vector of the six base metrics
/// `AV:[LAN]/AC:[HML]/Au:[MSN]/C:[NPC]/I:[NPC]/A:[NPC]`, e.g.
/// `AV:N/AC:L/Au:N/C:P/I:P/A:P` → 7.5, by the v2 specification's equations
/// (§3.2.1) with `round_to_1_decimal` (half up), computed exactly.
///
/// The vector may be wrapped in parentheses (NVD's `(AV:N/...)`) and/or carry a
/// `CVSS:2.0/` prefix. Temporal and environmental metrics (`E RL RC CDP TD CR IR
/// AR`) are accepted when valid and do not change the base score. `None` if a base
/// metric is missing, a metric is unknown, repeated or has an unknown value.
///
/// ```
/// use caisson_scan::cvss::cvss2_base;
/// assert_eq!(cvss2_base("AV:N/AC:L/Au:N/C:P/I:P/A:P"), Some(7.5));
/// assert_eq!(cvss2_base("(AV:N/AC:M/Au:N/C:P/I:N/A:N)"), Some(4.3));
/// ```
pub fn cvss2_base(vector: &str) -> Option<f64> {
    const METRICS: [(&str, &[&str]); 14] = [
        ("AV", &["L", "A", "N"]),
        ("AC", &["H", "M", "L"]),
        ("Au", &["M", "S", "N"]),
        ("C", &["N", "P", "C"]),
        ("I", &["N", "P", "C"]),
        ("A", &["N", "P", "C"]),
        ("E", &["U", "POC", "F", "H", "ND"]),
        ("RL", &["OF", "TF", "W", "U", "ND"]),
        ("RC", &["UC", "UR", "C", "ND"]),
        ("CDP", &["N", "L", "LM", "MH", "H", "ND"]),
        ("TD", &["N", "L", "M", "H", "ND"]),
        ("CR", &["L", "M", "H", "ND"]),
        ("IR", &["L", "M", "H", "ND"]),
        ("AR", &["L", "M", "H", "ND"]),
    ];
    let v = vector
        .strip_prefix('(')
        .and_then(|v| v.strip_suffix(')'))
        .unwrap_or(vector);
    let v = v.strip_prefix("CVSS:2.0/").unwrap_or(v);
    let mut values: [Option<&str>; 14] = [None; 14];
    for field in v.split('/') {
        let (key, value) = field.split_once(':')?;
        let index = METRICS.iter().position(|(k, _)| *k == key)?;
        if values[index].is_some() || !METRICS[index].1.contains(&value) {
            return None;
        }
        values[index] = Some(value);
    }
    let get = |i: usize| values[i];

    // Metric weights as exact decimals: AV and Au in thousandths, AC in hundredths,
    // the impacts in thousandths.
    let av: i128 = match get(0)? {
        "L" => 395,
        "A" => 646,
        _ => 1000,
    };
    let ac: i128 = match get(1)? {
        "H" => 35,
        "M" => 61,
        _ => 71,
    };
    let au: i128 = match get(2)? {
        "M" => 450,
        "S" => 560,
        _ => 704,
    };
    let cia = |i: usize| -> Option<i128> {
        Some(match get(i)? {
            "N" => 0,
            "P" => 275,
            _ => 660,
        })
    };
    let (c, i, a) = (cia(3)?, cia(4)?, cia(5)?);

    // Impact = 10.41 × (1 − (1 − C)(1 − I)(1 − A)), here × 10^11.
    let impact = 1041 * (1_000_000_000 - (1000 - c) * (1000 - i) * (1000 - a));
    if impact == 0 {
        // f(Impact) = 0.
        return Some(0.0);
    }
    // Exploitability = 20 × AV × AC × Au, here × 10^8, then × 10^11.
    let exploitability = 20 * av * ac * au * 1000;
    // (0.6 × Impact + 0.4 × Exploitability − 1.5) × 1.176, here × 10^15.
    let raw = (6 * impact + 4 * exploitability - 15 * 100_000_000_000) * 1176;
    // round_to_1_decimal, half up: tenths = ⌊raw / 10^14 + 1/2⌋.
    let tenths = (raw.max(0) + 50_000_000_000_000) / 100_000_000_000_000;
    // At most 100: exact in f64.
    Some(tenths as f64 / 10.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (vector, score) pairs. Every score was also checked against FIRST's
    /// calculator code as maintained upstream (RedHatProductSecurity/cvss-v4-calculator
    /// `cvss40.js`, 2024-11) and the Python port (RedHatProductSecurity/cvss 3.x).
    const V4_CASES: &[(&str, f64)] = &[
        // RedHatProductSecurity/cvss tests/test_cvss4.py (JSON schema tests).
        ("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:H/SC:N/SI:N/SA:N", 8.7),
        ("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:H/SC:N/SI:N/SA:N/AR:L", 7.9),
        ("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:N/SC:N/SI:N/SA:N/MSI:H", 7.7),
        // RedHatProductSecurity/cvss tests/vectors_threat4 (exploit maturity).
        ("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:N/SC:N/SI:N/SA:N/E:A", 0.0),
        ("CVSS:4.0/AV:P/AC:H/AT:P/PR:H/UI:A/VC:H/VI:H/VA:H/SC:H/SI:H/SA:H/E:A", 7.3),
        ("CVSS:4.0/AV:P/AC:H/AT:P/PR:H/UI:A/VC:H/VI:H/VA:H/SC:H/SI:H/SA:H/E:P", 5.9),
        ("CVSS:4.0/AV:P/AC:H/AT:P/PR:H/UI:A/VC:H/VI:H/VA:H/SC:H/SI:H/SA:H/E:U", 4.1),
        // RedHatProductSecurity/cvss tests/vectors_security4 (CR/IR/AR).
        ("CVSS:4.0/AV:P/AC:H/AT:P/PR:H/UI:A/VC:H/VI:H/VA:H/SC:H/SI:H/SA:H/CR:H/IR:H/AR:M", 7.2),
        ("CVSS:4.0/AV:P/AC:H/AT:P/PR:H/UI:A/VC:H/VI:H/VA:H/SC:H/SI:H/SA:H/CR:H/IR:M/AR:L", 7.1),
        ("CVSS:4.0/AV:P/AC:H/AT:P/PR:H/UI:A/VC:H/VI:H/VA:H/SC:H/SI:H/SA:H/CR:M/IR:M/AR:M", 5.5),
        ("CVSS:4.0/AV:P/AC:H/AT:P/PR:H/UI:A/VC:H/VI:H/VA:H/SC:H/SI:H/SA:H/CR:L/IR:L/AR:L", 5.4),
        // RedHatProductSecurity/cvss tests/vectors_supplemental4 (no effect on the score).
        ("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:N/SC:N/SI:N/SA:N/S:N/AU:N/R:A/V:D/RE:L/U:Clear", 0.0),
        ("CVSS:4.0/AV:P/AC:H/AT:P/PR:H/UI:A/VC:H/VI:H/VA:H/SC:H/SI:H/SA:H/S:N/AU:N/R:A/V:D/RE:L/U:Red", 7.3),
        // RedHatProductSecurity/cvss tests/vectors_simple4 (base only).
        ("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:L/VI:H/VA:L/SC:N/SI:H/SA:L", 9.2),
        ("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:L/VI:L/VA:L/SC:H/SI:N/SA:L", 7.8),
        ("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:L/VI:L/VA:N/SC:N/SI:L/SA:N", 6.9),
        ("CVSS:4.0/AV:N/AC:L/AT:P/PR:L/UI:N/VC:L/VI:L/VA:L/SC:L/SI:H/SA:L", 5.3),
        ("CVSS:4.0/AV:A/AC:H/AT:P/PR:L/UI:N/VC:N/VI:H/VA:N/SC:H/SI:H/SA:H", 7.2),
        ("CVSS:4.0/AV:P/AC:L/AT:P/PR:H/UI:N/VC:L/VI:N/VA:L/SC:H/SI:H/SA:N", 2.1),
        // pandatix/js-cvss tests/cvss40.test.ts ("Score").
        ("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:H/SI:H/SA:H", 10.0),
        ("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:N/SC:N/SI:N/SA:N", 0.0),
        ("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N", 9.3),
        ("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:N/SC:H/SI:H/SA:H", 7.9),
        ("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:H/SI:H/SA:H/E:U", 9.1),
        ("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:H/SI:H/SA:H/MVI:L/MSA:S", 9.8),
        ("CVSS:4.0/AV:P/AC:H/AT:P/PR:H/UI:A/VC:L/VI:N/VA:N/SC:N/SI:N/SA:N", 1.0),
        ("CVSS:4.0/AV:L/AC:L/AT:N/PR:L/UI:P/VC:N/VI:H/VA:H/SC:N/SI:L/SA:L", 5.2),
        (
            "CVSS:4.0/AV:L/AC:L/AT:N/PR:L/UI:P/VC:N/VI:H/VA:H/SC:N/SI:L/SA:L/E:P/CR:H/IR:M/AR:H/\
             MAV:A/MAT:P/MPR:N/MVI:H/MVA:N/MSI:H/MSA:N/S:N/V:C/U:Amber",
            4.7,
        ),
        ("CVSS:4.0/AV:N/AC:H/AT:N/PR:H/UI:N/VC:N/VI:N/VA:H/SC:H/SI:H/SA:H/CR:L/IR:L/AR:L", 5.8),
        // FIRST CVSS v4.0 specification §7: the example vectors (B, BT, BT, BE with
        // MSI:S, B + supplemental, BTE + supplemental with MSA:S).
        ("CVSS:4.0/AV:N/AC:L/AT:N/PR:H/UI:N/VC:L/VI:L/VA:N/SC:N/SI:N/SA:N", 5.1),
        ("CVSS:4.0/AV:N/AC:L/AT:N/PR:H/UI:N/VC:L/VI:L/VA:N/SC:N/SI:N/SA:N/E:A", 5.1),
        ("CVSS:4.0/AV:A/AC:H/AT:P/PR:L/UI:P/VC:H/VI:H/VA:H/SC:L/SI:L/SA:L/E:P", 4.5),
        (
            "CVSS:4.0/AV:L/AC:H/AT:N/PR:N/UI:A/VC:N/VI:N/VA:L/SC:H/SI:H/SA:H/CR:H/IR:H/AR:M/\
             MAV:N/MAC:L/MAT:P/MPR:L/MUI:A/MVC:N/MVI:H/MVA:L/MSC:L/MSI:S/MSA:H",
            8.5,
        ),
        (
            "CVSS:4.0/AV:P/AC:H/AT:P/PR:L/UI:P/VC:H/VI:H/VA:H/SC:L/SI:L/SA:L/E:A/S:P/AU:Y/R:A/\
             V:D/RE:L/U:Red",
            5.4,
        ),
        (
            "CVSS:4.0/AV:N/AC:L/AT:N/PR:H/UI:N/VC:L/VI:L/VA:N/SC:N/SI:N/SA:N/E:U/CR:L/IR:X/AR:L/\
             MAV:A/MAC:H/MAT:N/MPR:N/MUI:P/MVC:X/MVI:N/MVA:H/MSC:N/MSI:L/MSA:S/S:N/AU:N/R:I/V:C/\
             RE:H/U:Green",
            4.2,
        ),
        // Rounding cases from the reference implementations' issue trackers, where
        // the unrounded score lands a hair below or above x.x5.
        // RedHatProductSecurity/cvss-v4-calculator#66 (8.5499999999999.. → 8.6).
        ("CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:P/VC:H/VI:L/VA:N/SC:H/SI:H/SA:H", 8.6),
        // RedHatProductSecurity/cvss-v4-calculator#48 (0.35 → 0.4, 8.95 → 9.0).
        ("CVSS:4.0/AV:N/AC:L/AT:P/PR:L/UI:A/VC:L/VI:L/VA:N/SC:N/SI:N/SA:N/E:U", 0.4),
        ("CVSS:4.0/AV:N/AC:L/AT:P/PR:N/UI:N/VC:H/VI:H/VA:N/SC:H/SI:H/SA:H/E:P", 9.0),
        // RedHatProductSecurity/cvss#60 (8.45 → 8.5; MSI:S and MSA:S).
        (
            "CVSS:4.0/AV:N/AC:L/AT:N/PR:L/UI:A/VC:H/VI:H/VA:N/SC:N/SI:N/SA:N/E:P/CR:L/IR:L/AR:L/\
             MAV:N/MAC:L/MAT:N/MPR:L/MUI:A/MVC:H/MVI:H/MVA:H/MSC:H/MSI:S/MSA:S/S:P/AU:Y/R:I/V:C/\
             RE:H/U:Red",
            8.5,
        ),
        // RedHatProductSecurity/cvss#58 and #59 (0.95 → 1.0), both with MSA:S.
        (
            "CVSS:4.0/AV:P/AC:H/AT:P/PR:L/UI:P/VC:N/VI:L/VA:H/SC:N/SI:L/SA:N/E:U/CR:H/IR:H/AR:H/\
             MAV:L/MAC:H/MAT:P/MPR:L/MUI:P/MVC:L/MVI:L/MVA:L/MSC:L/MSI:L/MSA:S/S:N/AU:N/R:U/V:D/\
             RE:L/U:Clear",
            1.0,
        ),
        (
            "CVSS:4.0/AV:N/AC:H/AT:N/PR:N/UI:P/VC:H/VI:L/VA:H/SC:H/SI:N/SA:N/E:U/CR:H/IR:M/AR:M/\
             MAV:P/MAC:L/MAT:P/MPR:H/MUI:A/MVC:N/MVI:L/MVA:L/MSC:N/MSI:H/MSA:S/S:N/AU:Y/R:A/V:C/\
             RE:H/U:Amber",
            1.0,
        ),
        // RedHatProductSecurity/cvss#63 (8.549999999999999 → 8.6), in the issue's
        // (non-canonical) metric order.
        (
            "CVSS:4.0/AV:L/AC:H/AT:N/PR:N/UI:N/VC:L/VI:H/VA:L/SC:N/SI:N/SA:H/S:N/AU:N/R:I/V:C/\
             RE:M/U:Green/MAV:A/MAC:L/MAT:N/MPR:N/MUI:N/MVC:H/MVI:N/MVA:H/MSC:H/MSI:H/MSA:H/\
             CR:H/IR:M/AR:H/E:A",
            8.6,
        ),
        // RedHatProductSecurity/cvss tests/test_cvss4.py test_severity (Critical,
        // Medium, None; non-canonical order, AU before SA).
        (
            "CVSS:4.0/AV:A/AC:H/AT:N/PR:H/UI:A/VC:H/VI:N/VA:H/SC:L/SI:N/AU:N/SA:H/S:P/R:I/V:D/\
             RE:M/U:Red/MAV:N/MAC:L/MAT:N/MPR:N/MUI:N/MVC:H/MVI:H/MVA:H/MSC:H/MSI:S/MSA:S/CR:H/\
             IR:H/AR:H/E:U",
            9.5,
        ),
        (
            "CVSS:4.0/AV:N/AC:L/AT:N/PR:H/UI:N/VC:L/VI:L/VA:H/SC:H/SI:L/AU:Y/SA:H/S:N/R:U/V:C/\
             RE:M/U:Amber/MAV:L/MAC:H/MAT:N/MPR:H/MUI:N/MVC:N/MVI:L/MVA:N/MSC:L/MSI:S/MSA:H/CR:H/\
             IR:M/AR:M/E:A",
            6.5,
        ),
        (
            "CVSS:4.0/AV:L/AC:H/AT:N/PR:N/UI:N/VC:L/VI:N/VA:H/SC:L/SI:H/AU:N/SA:H/S:P/R:U/V:C/\
             RE:H/U:Red/MAV:L/MAC:L/MAT:P/MPR:L/MUI:P/MVC:N/MVI:N/MVA:N/MSC:N/MSI:N/MSA:N/CR:H/\
             IR:H/AR:H/E:P",
            0.0,
        ),
    ];

    #[test]
    fn cvss4_scores_match_the_reference_calculator() {
        assert!(V4_CASES.len() >= 30);
        for &(vector, score) in V4_CASES {
            assert_eq!(cvss4_score(vector), Some(score), "{vector}");
        }
    }

    #[test]
    fn cvss4_not_defined_metrics_change_nothing() {
        let base = "CVSS:4.0/AV:N/AC:L/AT:P/PR:L/UI:N/VC:H/VI:L/VA:N/SC:L/SI:N/SA:N";
        let with_x = format!(
            "{base}/E:X/CR:X/IR:X/AR:X/MAV:X/MAC:X/MAT:X/MPR:X/MUI:X/MVC:X/MVI:X/MVA:X/\
             MSC:X/MSI:X/MSA:X/S:X/AU:X/R:X/V:X/RE:X/U:X"
        );
        let score = cvss4_score(base);
        assert!(score.is_some());
        assert_eq!(cvss4_score(&with_x), score);
        // E:X is E:A, CR/IR/AR:X are H.
        assert_eq!(cvss4_score(&format!("{base}/E:A/CR:H/IR:H/AR:H")), score);
    }

    #[test]
    fn cvss4_invalid_vectors_are_rejected() {
        let base = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N";
        for bad in [
            // The specification's invalid examples (§7).
            "CVSS:4.0/AV:F/AC:L/AT:N/PR:N/UI:N/VC:N/VI:L/VA:N/SC:N/SI:N/SA:N",
            "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:N/SC:N/SI:N/SA:N/E:A/E:X",
            "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/ui:N/VC:N/VI:L/VA:N/SC:N/SI:N/SA:N",
            "AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:L/VA:N/SC:N/SI:N/SA:N",
            "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:L/SC:N/SI:N/SA:N",
            // RedHatProductSecurity/cvss tests/test_cvss4.py.
            "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:N/SC:N/SI:N/SA:N/JJ:H",
            "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:N/SC:N/SI:N/SA:J",
            "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:N/VI:N/VA:N/SC:N/SI:N/SI:H",
            // Base metrics take no X, base SI/SA no S, MSC no S.
            "CVSS:4.0/AV:X/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
            "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:S/SA:N",
            "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N/MSC:S",
            "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N/U:red",
            // Other versions, garbage, empty fields.
            "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
            "CVSS:4.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
            "CVSS:4.0",
            "CVSS:4.0/",
            "",
            "garbage",
            "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N/",
            "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H//VA:H/SC:N/SI:N/SA:N",
            "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H:H/SC:N/SI:N/SA:N",
            "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VAH/SC:N/SI:N/SA:N",
            " CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
            "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N ",
            "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N/É:A",
        ] {
            assert_eq!(cvss4_score(bad), None, "{bad:?}");
        }
        assert_eq!(cvss4_score(base), Some(9.3));
        assert_eq!(cvss4_score(&format!("{base}/AV:N")), None);
    }

    #[test]
    fn cvss4_macrovector_table_is_sorted_and_complete() {
        assert!(MACRO_SCORES.windows(2).all(|w| w[0].0 < w[1].0));
        for (key, score) in MACRO_SCORES {
            let d: Vec<u8> = key.bytes().map(|b| b - b'0').collect();
            assert!(d[0] <= 2 && d[1] <= 1 && d[2] <= 2 && d[3] <= 2 && d[4] <= 2 && d[5] <= 1);
            assert!(!(d[2] == 2 && d[5] == 0), "{key}");
            assert!((0.0..=10.0).contains(&score), "{key}");
        }
    }

    #[test]
    fn cvss2_base_scores() {
        for (vector, score) in [
            // CVSS v2 guide §3.3 examples: CVE-2002-0392, CVE-2003-0818, CVE-2003-0062.
            ("AV:N/AC:L/Au:N/C:N/I:N/A:C", 7.8),
            ("AV:N/AC:L/Au:N/C:C/I:C/A:C", 10.0),
            ("AV:L/AC:H/Au:N/C:C/I:C/A:C", 6.2),
            ("AV:N/AC:L/Au:N/C:P/I:P/A:P", 7.5),
            ("AV:N/AC:M/Au:N/C:P/I:N/A:N", 4.3),
            // RedHatProductSecurity/cvss tests/vectors_simple2, vectors_cvsslib2,
            // vectors_calculator2 (base scores).
            ("AV:L/AC:H/Au:M/C:N/I:N/A:N", 0.0),
            ("AV:L/AC:H/Au:M/C:N/I:N/A:P", 0.8),
            ("AV:L/AC:H/Au:M/C:N/I:N/A:C", 3.7),
            ("AV:A/AC:M/Au:S/C:C/I:P/A:C", 7.0),
            ("AV:N/AC:L/Au:S/C:P/I:P/A:N", 5.5),
            ("AV:A/AC:M/Au:S/C:N/I:N/A:P", 2.3),
            (
                "AV:L/AC:M/Au:S/C:N/I:P/A:C/E:U/RL:OF/RC:UR/CDP:N/TD:L/CR:H/IR:H/AR:H",
                5.0,
            ),
            (
                "AV:N/AC:M/Au:M/C:C/I:N/A:P/RL:W/RC:UC/CDP:LM/TD:M/CR:L/IR:L/AR:L",
                6.4,
            ),
            // Wrappers: NVD's parentheses and the CVSS:2.0/ prefix.
            ("(AV:N/AC:L/Au:N/C:P/I:P/A:P)", 7.5),
            ("CVSS:2.0/AV:N/AC:L/Au:N/C:N/I:N/A:C", 7.8),
            ("(CVSS:2.0/AV:N/AC:M/Au:N/C:P/I:N/A:N)", 4.3),
        ] {
            assert_eq!(cvss2_base(vector), Some(score), "{vector}");
        }
    }

    #[test]
    fn cvss2_invalid_vectors_are_rejected() {
        for bad in [
            "AV:N/AC:L/Au:N/C:P/I:P",
            "AV:N/AC:L/Au:N/C:P/I:P/A:P/A:N",
            "AV:N/AC:L/Au:N/C:P/I:P/A:X",
            "AV:N/AC:L/AU:N/C:P/I:P/A:P",
            "AV:N/AC:L/Au:N/C:P/I:P/A:P/E:X",
            "AV:N/AC:L/Au:N/C:P/I:P/A:P/",
            "(AV:N/AC:L/Au:N/C:P/I:P/A:P",
            "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
            "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N",
            "()",
            "",
            "garbage",
        ] {
            assert_eq!(cvss2_base(bad), None, "{bad:?}");
        }
    }
}

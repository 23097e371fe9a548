//! The seeded split of leads into a training and a held-out side.

use uuid::Uuid;

/// Default share of leads held out.
pub const DEFAULT_HOLDOUT: f64 = 0.3;

/// One step of SplitMix64, a 64-bit mixing function with good avalanche: every input bit
/// changes about half of the output bits.
fn splitmix64(value: u64) -> u64 {
    let mut z = value.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Returns true when the lead falls on the held-out side for this seed and fraction. The
/// result depends only on the three arguments, so every call, process and backend agrees.
pub fn is_holdout(lead_id: Uuid, seed: u64, fraction: f64) -> bool {
    let bits = lead_id.as_u128();
    let high = (bits >> 64) as u64;
    let low = bits as u64;
    let mixed = splitmix64(splitmix64(seed ^ high) ^ low);
    // The top 53 bits give a uniform number in [0, 1) that an f64 represents exactly.
    let uniform = (mixed >> 11) as f64 / (1_u64 << 53) as f64;
    uniform < fraction
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_is_deterministic_and_near_fraction() {
        let ids: Vec<Uuid> = (0..10_000_u128).map(|n| Uuid::from_u128(n.wrapping_mul(0x9E37_79B9_7F4A_7C15_F39C_C060_5CED_C835))).collect();
        let held: Vec<bool> = ids.iter().map(|id| is_holdout(*id, 7, 0.3)).collect();
        let again: Vec<bool> = ids.iter().map(|id| is_holdout(*id, 7, 0.3)).collect();
        assert_eq!(held, again);

        let share = held.iter().filter(|held| **held).count() as f64 / ids.len() as f64;
        assert!((share - 0.3).abs() < 0.02, "held-out share {share}");
    }

    #[test]
    fn seed_changes_split() {
        let ids: Vec<Uuid> = (0..1000_u128).map(|n| Uuid::from_u128(n << 64 | n)).collect();
        let first: Vec<bool> = ids.iter().map(|id| is_holdout(*id, 1, 0.5)).collect();
        let second: Vec<bool> = ids.iter().map(|id| is_holdout(*id, 2, 0.5)).collect();
        assert_ne!(first, second);
    }
}

//! Which bytes of a JSON string must be escaped: anything but `"`, `\\` and the control
//! characters is *plain* (RFC 8259 §7; `serde_json` escapes exactly these). The response masker
//! copies runs of plain bytes through, and the audit writer copies a string without escaping
//! when it is plain throughout.

/// Plain string bytes (copied as a run): anything but `"`, `\\` and control characters.
static PLAIN: [bool; 256] = {
    let mut t = [true; 256];
    let mut b = 0;
    while b < 0x20 {
        t[b] = false;
        b += 1;
    }
    t[b'"' as usize] = false;
    t[b'\\' as usize] = false;
    t
};

/// Whether `b` is a plain string byte.
#[inline(always)]
pub fn plain(b: u8) -> bool {
    PLAIN[usize::from(b)]
}

/// The end of the run of plain string bytes starting at `i`, eight bytes at a time.
///
/// For each word, `(x - 0x01..) & !x & 0x80..` flags zero bytes of `x`; its lowest flag is
/// always exact (borrows only create false flags above a true one), so the first flagged
/// byte of the three tests combined (`"`, `\\`, below 0x20) is the first non-plain byte.
#[inline(always)]
pub fn plain_run(s: &[u8], mut i: usize) -> usize {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    while let Some(word) = s.get(i..).and_then(|r| r.first_chunk::<8>()) {
        let w = u64::from_le_bytes(*word);
        let q = w ^ (LO * u64::from(b'"'));
        let bs = w ^ (LO * u64::from(b'\\'));
        let flags = ((q.wrapping_sub(LO) & !q)
            | (bs.wrapping_sub(LO) & !bs)
            | (w.wrapping_sub(LO * 0x20) & !w))
            & HI;
        if flags != 0 {
            return i + (flags.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while i < s.len() && plain(s[i]) {
        i += 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::{plain, plain_run};

    #[test]
    fn plain_run_matches_the_bytewise_definition() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for len in 0..64 {
            for _ in 0..200 {
                let s: Vec<u8> = (0..len)
                    .map(|_| {
                        seed ^= seed << 13;
                        seed ^= seed >> 7;
                        seed ^= seed << 17;
                        // Mostly plain bytes, sometimes a special or a high byte.
                        match seed % 16 {
                            0 => b'"',
                            1 => b'\\',
                            2 => (seed >> 8) as u8 % 0x20,
                            3 => 0x80 | (seed >> 8) as u8,
                            _ => b'a' + (seed >> 8) as u8 % 26,
                        }
                    })
                    .collect();
                for start in 0..=s.len() {
                    let want = (start..s.len()).find(|&k| !plain(s[k])).unwrap_or(s.len());
                    assert_eq!(plain_run(&s, start), want, "{s:?} from {start}");
                }
            }
        }
    }

    #[test]
    fn plain_run_is_exact_for_every_byte_anywhere() {
        for len in [1, 7, 8, 9, 16, 23] {
            for at in 0..len {
                // Among neighbours either side of the tested values, and high bytes.
                for fill in [b'a', 0x21, 0x23, 0x5b, 0x5d, 0x7f, 0xff] {
                    for byte in 0..=255u8 {
                        let mut s = vec![fill; len];
                        s[at] = byte;
                        let escaped = byte < 0x20 || byte == b'"' || byte == b'\\';
                        let want = if escaped { at } else { len };
                        assert_eq!(plain_run(&s, 0), want, "{byte:#x} at {at} among {fill:#x}");
                    }
                }
            }
        }
    }
}

//! Localisation, cross-check, referral and reports — not implemented yet (issue 7).

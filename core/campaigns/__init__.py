"""KOL seeding: creator profiles, campaigns, collaborations, attribution, commissions, payouts."""

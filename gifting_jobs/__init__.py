"""gifting-jobs: background jobs of the gift-recommendation backend, on Dramatiq."""

"""The sign-in transaction (an *interaction*) and its ordered stages."""

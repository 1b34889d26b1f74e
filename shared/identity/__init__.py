"""Who is who: the accounts people name, challenge codes, linking, X accounts and their
standing, attestations, what is known of a person."""

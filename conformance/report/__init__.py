"""What a run leaves behind: the certificate (strict JSON, with its schema), and every rendering of it."""

"""Raw payloads exactly as received, content-addressed, with a manifest per slice."""

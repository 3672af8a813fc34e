"""Planning and fetching slices: windows, limits, timezones, paging."""

"""HTTP routes, grouped as the lakeFS API groups them. Each route only translates HTTP to a
service call and the result back to the spec's JSON shape."""

"""fileshare-bench: constant client load through a site's VIP, recorded request by request, for the
rolling-upgrade and fault benchmarks (and the lab tests that assert zero failed requests)."""

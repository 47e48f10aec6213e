"""Payment providers (sandbox, WeChat Pay v3) and the single payment-confirmed path."""

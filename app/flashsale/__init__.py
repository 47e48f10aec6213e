"""Flash sales (限时秒杀): a sale's own stock carved out of a SKU, sold through one Redis Lua script, drained into orders in batches."""

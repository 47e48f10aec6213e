"""The sale's Redis scripts. Every key of one sale shares the hash tag {fs:ID}, so each script runs
on one shard of a Redis Cluster. Times are Redis's own clock (TIME), so servers' clocks do not matter.

Keys: meta (hash: starts, ends in ms, limit, ceil), left (units left), users (hash user → units
held), idem (hash "user:key" → first answer), blocked (set of user ids), seq (reservation counter),
stream (reservations for the drain), res (hash n → "state|user|qty|order or reason").

Reservation numbers survive a Redis that loses its data: the script hands out numbers up to meta's
`ceil` only, a ceiling the database holds (flash_sales.seq_ceiling) before Redis may use it, and a
rebuild starts the counter at that ceiling. No number is handed out twice, whatever Redis forgot."""

KEY_NAMES = ("meta", "left", "users", "idem", "blocked", "seq", "stream", "res")


def _rate_check(first_key: int, first_arg: int, over: str) -> str:
    """Fixed-window counters (flask-limiter's key format and default strategy): KEYS[first_key..]
    one counter per limit, ARGV[first_arg..] amount and window (s) per counter. Past a limit the
    script returns `over`, an expression of `ttl` (ms until that window frees up)."""
    return f"""
for i = {first_key}, #KEYS do
  local a = {first_arg} + 2 * (i - {first_key})
  local n = redis.call('INCR', KEYS[i])
  if n == 1 then redis.call('EXPIRE', KEYS[i], ARGV[a + 1]) end
  if n > tonumber(ARGV[a]) then
    local ttl = redis.call('PTTL', KEYS[i])
    if ttl < 0 then redis.call('EXPIRE', KEYS[i], ARGV[a + 1]); ttl = tonumber(ARGV[a + 1]) * 1000 end
    return {over}
  end
end
"""


# The purchase rate limits alone (on the rate-limit Redis) → 0, or the ms until a window frees up.
RATE_LIMITS = _rate_check(1, 1, "ttl") + "return 0\n"

# → "R|n" (reserved), "E|code" (refused), "M" (no state: build it from the database and retry),
# "S|ceil" (the numbers the database granted are used up: raise the ceiling there and retry;
# nothing taken, nothing remembered).
PURCHASE = """
local user, qty, point, ikey = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4]
if ikey ~= '' then
  local seen = redis.call('HGET', KEYS[4], user .. ':' .. ikey)
  if seen then return seen end
end
local m = redis.call('HMGET', KEYS[1], 'starts', 'ends', 'limit', 'ceil')
if not m[1] then return 'M' end
local out
if redis.call('SISMEMBER', KEYS[5], user) == 1 then
  out = 'E|user_blocked'
else
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  if now < tonumber(m[1]) then
    out = 'E|not_started'
  elseif now >= tonumber(m[2]) then
    out = 'E|ended'
  else
    local have = tonumber(redis.call('HGET', KEYS[3], user) or '0')
    if have + qty > tonumber(m[3]) then
      out = 'E|limit_exceeded'
    elseif tonumber(redis.call('GET', KEYS[2]) or '0') < qty then
      out = 'E|sold_out'
    else
      local n = redis.call('INCR', KEYS[6])
      if n > tonumber(m[4] or '0') then
        redis.call('DECR', KEYS[6])
        return 'S|' .. (m[4] or '0')
      end
      redis.call('DECRBY', KEYS[2], qty)
      redis.call('HINCRBY', KEYS[3], user, qty)
      redis.call('XADD', KEYS[7], '*', 'n', n, 'u', user, 'q', qty, 'p', point)
      redis.call('HSET', KEYS[8], n, 'pending|' .. user .. '|' .. qty)
      out = 'R|' .. n
    end
  end
end
if ikey ~= '' then
  redis.call('HSET', KEYS[4], user .. ':' .. ikey, out)
end
return out
"""

# The rate limits and the purchase in one script, when the sale's Redis is the rate limits' own
# (not a cluster): KEYS[9..] the counters, ARGV[5..] their amounts and windows. → "L|ms" past a
# limit (counted, nothing taken), else as PURCHASE.
RATED_PURCHASE = _rate_check(len(KEY_NAMES) + 1, 5, "'L|' .. ttl") + PURCHASE

# Give a reservation's units back, once: only when its record is still in state ARGV[2].
# KEYS: meta, left, users, res. ARGV: n, from_state, new record. → 1 if given back.
GIVE_BACK = """
local rec = redis.call('HGET', KEYS[4], ARGV[1])
if not rec then return 0 end
local state, user, qty = string.match(rec, '^([^|]*)|([^|]*)|([^|]*)')
if state ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[4], ARGV[1], ARGV[3])
if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('INCRBY', KEYS[2], qty)
  local left = redis.call('HINCRBY', KEYS[3], user, -tonumber(qty))
  if left <= 0 then redis.call('HDEL', KEYS[3], user) end
end
return 1
"""

# Raise the sale's reservation ceiling to ARGV[1] (never lower it; never create a state that is
# not there: the rebuild writes the ceiling with the rest). KEYS: meta.
RAISE_CEILING = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if tonumber(redis.call('HGET', KEYS[1], 'ceil') or '0') < tonumber(ARGV[1]) then
  redis.call('HSET', KEYS[1], 'ceil', ARGV[1])
end
return 1
"""

# Build the sale's state. KEYS: meta, left, users, res, seq. ARGV: force, starts, ends, limit, stock,
# the ceiling of reservation numbers the database granted (every number handed out is at most
# that, and at least every order's: the counter restarts above them all), then the
# live orders as quadruples (n, user, qty, order_id)... Units of reservations still pending
# in Redis (not yet orders) stay taken, counted here atomically with the rebuild.
# → 0 if state existed and force was not asked, else the units left.
REBUILD = """
if ARGV[1] ~= '1' and redis.call('EXISTS', KEYS[1]) == 1 then return -1 end
local held, users = 0, {}
local live = {}
if tonumber(redis.call('GET', KEYS[5]) or '0') < tonumber(ARGV[6]) then redis.call('SET', KEYS[5], ARGV[6]) end
for i = 7, #ARGV, 4 do
  local n, user, qty, oid = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2]), ARGV[i + 3]
  live[n] = true
  redis.call('HSET', KEYS[4], n, 'confirmed|' .. user .. '|' .. qty .. '|' .. oid)
  held = held + qty
  users[user] = (users[user] or 0) + qty
end
local recs = redis.call('HGETALL', KEYS[4])
for i = 1, #recs, 2 do
  local state, user, qty = string.match(recs[i + 1], '^([^|]*)|([^|]*)|([^|]*)')
  if state == 'pending' and not live[recs[i]] then
    held = held + tonumber(qty)
    users[user] = (users[user] or 0) + tonumber(qty)
  end
end
redis.call('DEL', KEYS[3])
for user, qty in pairs(users) do redis.call('HSET', KEYS[3], user, qty) end
local left = tonumber(ARGV[5]) - held
if left < 0 then left = 0 end
redis.call('SET', KEYS[2], left)
local ceil = tonumber(redis.call('HGET', KEYS[1], 'ceil') or '0')
if ceil < tonumber(ARGV[6]) then ceil = ARGV[6] end
redis.call('HSET', KEYS[1], 'starts', ARGV[2], 'ends', ARGV[3], 'limit', ARGV[4], 'ceil', ceil)
return left
"""

-- wrk script for every run of bench/server/run.sh. With WRK_PIPELINE > 1 every write carries that many requests
-- for the URL's path (wrk counts each response); with 1 wrk sends its own static request as without a script.
-- Settings come from the environment, so the main Lua state (which runs done()) sees them too:
--   WRK_PIPELINE     requests per write (default 16)
--   WRK_CONNECTIONS  the -c given to wrk (needed to recompute p99; without it only wrk's own figure is printed)
--
-- p99: wrk 4.1 records one latency sample per batch (when its last response arrives), then applies its
-- coordinated-omission correction with the interval between *responses* rather than between batches
-- (wg/wrk#236), so the 99% line it prints for a pipelined run is 0 or meaningless. done() reads wrk's
-- histogram (LuaJIT FFI on wrk's `stats` struct, wrk 4.0/4.1 layout), undoes that correction exactly, and prints
--   p99-raw-us: <p99 of the latencies as measured, no correction>
--   p99-us:     <p99 after wrk's correction, with the interval between batches on a connection>
-- With WRK_PIPELINE=1 the two corrections are the same and p99-us equals wrk's own 99% line.
local depth = tonumber(os.getenv("WRK_PIPELINE") or "16")
local conns = tonumber(os.getenv("WRK_CONNECTIONS") or "")

if depth > 1 then
  init = function(args)
    local r = {}
    for i = 1, depth do
      r[i] = wrk.format(nil, nil)
    end
    req = table.concat(r)
  end

  request = function()
    return req
  end
end

local function percentile(hist, keys, total, p)
  -- as wrk's stats_percentile: the smallest value whose cumulative count reaches round(p/100 * total + 0.5)
  local rank = math.floor(p / 100 * total + 0.5 + 0.5)
  local acc = 0
  for _, k in ipairs(keys) do
    acc = acc + hist[k]
    if acc >= rank then return k end
  end
  return -1
end

done = function(summary, latency, requests)
  if conns == nil then return end
  local ok, ffi = pcall(require, "ffi")
  if not ok then return end
  pcall(ffi.cdef, "typedef struct { uint64_t count, limit, min, max; uint64_t data[]; } wrk_stats_t;")
  local s = ffi.cast("wrk_stats_t **", latency)[0]
  local min, max = tonumber(s.min), tonumber(s.max)
  if min > max then return end
  -- wrk's correction, with e = duration / (responses / connections): for each n >= 2e (ascending) it adds
  -- data[n] samples at n-e, n-2e, ... while > e. So afterwards data[m] = raw[m] + raw[m+e] + raw[m+2e] + ... for
  -- m > e, and raw[m] = data[m] - data[m+e].
  local responses = summary.requests
  local e = 0
  if math.floor(responses / conns) > 0 then e = math.floor(summary.duration / math.floor(responses / conns)) end
  local raw, keys, total = {}, {}, 0
  for m = min, max do
    local v = tonumber(s.data[m])
    if e > 0 and m > e and m + e <= max then v = v - tonumber(s.data[m + e]) end
    if v > 0 then
      raw[m] = v
      keys[#keys + 1] = m
      total = total + v
    end
  end
  if total == 0 then return end
  io.write(string.format("p99-raw-us: %d\n", percentile(raw, keys, total, 99)))
  -- The same correction with the interval between batches on one connection.
  local batches = math.floor(responses / depth)
  local E = 0
  if math.floor(batches / conns) > 0 then E = math.floor(summary.duration / math.floor(batches / conns)) end
  local hist, ctotal = {}, total
  for _, k in ipairs(keys) do hist[k] = raw[k] end
  if E > 0 then
    for _, n in ipairs(keys) do
      if n >= 2 * E then
        local c, m = raw[n], n - E
        while m > E do
          hist[m] = (hist[m] or 0) + c
          ctotal = ctotal + c
          m = m - E
        end
      end
    end
  end
  local ckeys = {}
  for k in pairs(hist) do ckeys[#ckeys + 1] = k end
  table.sort(ckeys)
  io.write(string.format("p99-us: %d\n", percentile(hist, ckeys, ctotal, 99)))
end

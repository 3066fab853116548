-- wrk script: each connection's requests cycle through the soak's three routes, so one run's latency
-- percentiles cover all of them (bench/soak.sh: the p99 of a whole minute of mixed traffic).
local paths = { "/plaintext", "/json", "/user/12345" }
local requests = {}
local next_index = 1

function init(args)
    for i, path in ipairs(paths) do
        requests[i] = wrk.format("GET", path)
    end
end

function request()
    local r = requests[next_index]
    next_index = next_index % #requests + 1
    return r
end

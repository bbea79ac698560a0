-- load.lua: wrk script for bench/load.sh. POSTs the body file named by the
-- KILN_LOAD_BODY environment variable (a v2 inference request) to the URL
-- wrk was given, and counts answers that are not 200.
local f = assert(io.open(os.getenv("KILN_LOAD_BODY"), "rb"))
wrk.method = "POST"
wrk.body = f:read("*a")
f:close()
wrk.headers["Content-Type"] = "application/json"

-- wrk script: POSTs distinct GraphQL documents (never the same text twice),
-- BENCH_COUNT responses in all, then stops. BENCH_BASE keeps runs apart.
local base = os.getenv("BENCH_BASE") or "0"
local limit = tonumber(os.getenv("BENCH_COUNT") or "1000")
local sent = 0
local answered = 0
local headers = {
  ["Content-Type"] = "application/json",
  ["Accept"] = "application/graphql-response+json",
}
-- An anonymous query told apart by a comment, and named operations.
local shapes = {
  '{"query":"{ contactTypes { code } } # %s"}',
  '{"query":"query D%s { contactTypes { code name isUnique } }"}',
}

request = function()
  sent = sent + 1
  local id = base .. "x" .. sent
  return wrk.format("POST", "/graphql", headers, string.format(shapes[sent % 2 + 1], id))
end

response = function(status, headers, body)
  answered = answered + 1
  if answered >= limit then
    wrk.thread:stop()
  end
end

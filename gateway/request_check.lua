-- Checks every request before it is transcoded to gRPC, for what the transcoder would let
-- through silently or hand to a service that cannot take it:
--
-- * Header names. Every header becomes gRPC metadata, whose names allow only [0-9a-z_.-]; a
--   name HTTP allows but gRPC does not ("a!b") would fail the call inside the service (500),
--   so it is 400 naming the header. gRPC's own headers (grpc-*) and binary metadata (*-bin)
--   are the gateway's to set: a client's are dropped.
-- * Body fields. Fields the API does not have are 400 naming the field, where the transcoder
--   would drop them without a word: a client that misspells a field, or sends one it hopes the
--   server acts on (an "authorId"), learns at once that it was not.
--
-- `make gen` (devstack/gen.py) writes gateway/request_fields.lua: the tables MESSAGES (message ->
-- its JSON field names, each mapped to the message it holds or to true for anything else) and
-- ROUTES ({method, Lua pattern of the path, message of the body}), followed by this file.
-- JSON syntax errors are left to the transcoder, which names them; this looks at names only.

local function refuse(handle, message)
  handle:respond({ [":status"] = "400", ["content-type"] = "text/plain" }, message)
end

-- Drops gRPC's own headers and binary metadata; returns the first name gRPC cannot carry.
local function check_header_names(headers)
  local dropped, invalid = {}, nil
  for name, _ in pairs(headers) do
    if name:sub(1, 1) ~= ":" then
      if name:find("^grpc%-") or name:find("%-bin$") then
        dropped[#dropped + 1] = name
      elseif invalid == nil and not name:find("^[0-9a-z_.%-]+$") then
        invalid = name
      end
    end
  end
  for _, name in ipairs(dropped) do
    headers:remove(name)
  end
  return invalid
end

local function skip_space(s, i)
  return s:find("[^ \t\r\n]", i) or #s + 1
end

-- The string starting at s[i] == '"': its raw text and the index after its closing quote.
local function read_string(s, i)
  local j = i + 1
  while true do
    local k = s:find('["\\]', j)
    if k == nil then
      return nil
    elseif s:sub(k, k) == '"' then
      return s:sub(i + 1, k - 1), k + 1
    end
    j = k + 2 -- past an escaped character
  end
end

local check_value

-- Checks the object at s[i] == "{" against `message` (nil: any fields); returns the index
-- after it, or nil and the path of an unknown field (nil path: malformed, left to the transcoder).
local function check_object(s, i, message, path)
  local fields = message and MESSAGES[message]
  i = skip_space(s, i + 1)
  if s:sub(i, i) == "}" then
    return i + 1
  end
  while true do
    if s:sub(i, i) ~= '"' then
      return nil
    end
    local key, after = read_string(s, i)
    if key == nil then
      return nil
    end
    local holds = true
    if fields ~= nil then
      holds = fields[key]
      if holds == nil then
        return nil, path .. key
      end
    end
    i = skip_space(s, after)
    if s:sub(i, i) ~= ":" then
      return nil
    end
    local unknown
    i, unknown = check_value(s, skip_space(s, i + 1), holds ~= true and holds or nil, path .. key .. ".")
    if i == nil then
      return nil, unknown
    end
    i = skip_space(s, i)
    local c = s:sub(i, i)
    if c == "}" then
      return i + 1
    elseif c ~= "," then
      return nil
    end
    i = skip_space(s, i + 1)
  end
end

check_value = function(s, i, message, path)
  local c = s:sub(i, i)
  if c == "{" then
    return check_object(s, i, message, path)
  elseif c == "[" then
    i = skip_space(s, i + 1)
    if s:sub(i, i) == "]" then
      return i + 1
    end
    while true do
      local unknown
      i, unknown = check_value(s, i, message, path)
      if i == nil then
        return nil, unknown
      end
      i = skip_space(s, i)
      local d = s:sub(i, i)
      if d == "]" then
        return i + 1
      elseif d ~= "," then
        return nil
      end
      i = skip_space(s, i + 1)
    end
  elseif c == '"' then
    local _, after = read_string(s, i)
    return after
  end
  return s:find("[,%]}%s]", i) or #s + 1
end

local function body_message(method, path)
  for _, route in ipairs(ROUTES) do
    if route[1] == method and path:match(route[2]) then
      return route[3]
    end
  end
  return nil
end

function envoy_on_request(handle)
  local headers = handle:headers()
  local invalid = check_header_names(headers)
  if invalid ~= nil then
    refuse(
      handle,
      'invalid header name "' .. invalid:sub(1, 200) .. '": gRPC allows only a-z, 0-9, "-", "_" and "."'
    )
    return
  end
  local message = body_message(headers:get(":method"), (headers:get(":path"):gsub("%?.*$", "")))
  if message == nil then
    return
  end
  local body = handle:body()
  if body == nil or body:length() == 0 then
    return
  end
  local s = body:getBytes(0, body:length())
  local start = skip_space(s, 1)
  if s:sub(start, start) ~= "{" then
    return
  end
  local _, unknown = check_object(s, start, message, "")
  if unknown ~= nil then
    refuse(handle, 'unknown field "' .. unknown:sub(1, 200) .. '" in the request body')
  end
end

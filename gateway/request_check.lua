-- Checks every request before it is transcoded to gRPC, for what the transcoder would let
-- through silently, hand to a service that cannot take it, or answer by echoing the body:
--
-- * Header names. Every header becomes gRPC metadata, whose names allow only [0-9a-z_.-]; a
--   name HTTP allows but gRPC does not ("a!b") would fail the call inside the service (500),
--   so it is 400 naming the header. gRPC's own headers (grpc-*) and binary metadata (*-bin)
--   are the gateway's to set: a client's are dropped.
-- * UTF-8. A path segment or query parameter whose percent-decoded bytes are not UTF-8 would
--   reach the service as a protobuf string it cannot parse; it is 400 naming the parameter.
-- * Body fields. Fields the API does not have are 400 naming the field, where the transcoder
--   would drop them without a word: a client that misspells a field, or sends one it hopes the
--   server acts on (an "authorId"), learns at once that it was not. A string that is not UTF-8
--   (or holds a lone surrogate escape), a field given twice, nesting deeper than MAX_DEPTH and
--   malformed JSON are 400 too, naming the field or the byte, and never quoting the body: the
--   transcoder's own messages quote the text around the error, which may be a password.
--
-- `make gen` (devstack/gen.py) writes gateway/request_fields.lua: the tables MESSAGES (message ->
-- its JSON field names, each mapped to the message it holds or to true for anything else),
-- ROUTES ({method, Lua pattern of the path, message of the body}) and PATH_PARAMETERS ({Lua
-- pattern of a path with a capture per parameter, their names}), followed by this file.

local MAX_DEPTH = 32

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

-- True when `s` is well-formed UTF-8: no stray continuation bytes, overlong forms, surrogates
-- (U+D800-DFFF) or code points past U+10FFFF.
local function is_utf8(s)
  local i = 1
  while true do
    i = s:find("[\128-\255]", i)
    if i == nil then
      return true
    end
    local c, need, low, high = s:byte(i), 2, 0x80, 0xBF
    if c >= 0xC2 and c <= 0xDF then
      need = 1
    elseif c == 0xE0 then
      low = 0xA0
    elseif c == 0xED then
      high = 0x9F
    elseif c == 0xF0 then
      need, low = 3, 0x90
    elseif c >= 0xF1 and c <= 0xF3 then
      need = 3
    elseif c == 0xF4 then
      need, high = 3, 0x8F
    elseif c < 0xE1 or c > 0xEF then
      return false
    end
    local b = s:byte(i + 1)
    if b == nil or b < low or b > high then
      return false
    end
    for k = 2, need do
      b = s:byte(i + k)
      if b == nil or b < 0x80 or b > 0xBF then
        return false
      end
    end
    i = i + need + 1
  end
end

-- The rule the raw text of a JSON string breaks, or nil.
local function string_problem(raw)
  if not is_utf8(raw) then
    return "must be valid UTF-8"
  end
  if raw:find("[%z\1-\31]") then
    return "must escape control characters (JSON)"
  end
  local j = 1
  while true do
    local k = raw:find("\\", j, true)
    if k == nil then
      return nil
    end
    local unit = raw:match("^u(%x%x%x%x)", k + 1)
    if unit ~= nil then
      local code = tonumber(unit, 16)
      if code >= 0xDC00 and code <= 0xDFFF then
        return "must not hold a lone surrogate (\\u" .. unit .. ")"
      elseif code >= 0xD800 and code <= 0xDBFF then
        local next_unit = raw:match("^\\u(%x%x%x%x)", k + 6)
        local low = next_unit and tonumber(next_unit, 16)
        if low == nil or low < 0xDC00 or low > 0xDFFF then
          return "must not hold a lone surrogate (\\u" .. unit .. ")"
        end
        k = k + 6
      end
      j = k + 5
    else
      j = k + 2 -- past an escaped character
    end
  end
end

local function skip_space(s, i)
  return s:find("[^ \t\r\n]", i) or #s + 1
end

local function not_json(i)
  return "the request body is not valid JSON (at byte " .. i .. ")"
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

local function is_literal(word)
  return word == "true" or word == "false" or word == "null"
    or word:match("^%-?%d+%.?%d*$") ~= nil and word:sub(-1) ~= "."
    or word:match("^%-?%d+%.?%d*[eE][%+%-]?%d+$") ~= nil
end

local check_value

-- Checks the object at s[i] == "{" against `message` (nil: any fields); returns the index
-- after it, or nil and what is wrong (naming the field path, never quoting the body).
local function check_object(s, i, message, path, depth)
  local fields = message and MESSAGES[message]
  local seen = {}
  i = skip_space(s, i + 1)
  if s:sub(i, i) == "}" then
    return i + 1
  end
  while true do
    if s:sub(i, i) ~= '"' then
      return nil, not_json(i)
    end
    local key, after = read_string(s, i)
    if key == nil then
      return nil, not_json(i)
    end
    if string_problem(key) ~= nil then
      return nil, "a field name in the request body " .. string_problem(key)
    end
    local name = path .. key
    if seen[key] then
      return nil, 'field "' .. name:sub(1, 200) .. '" is given twice in the request body'
    end
    seen[key] = true
    local holds = true
    if fields ~= nil then
      holds = fields[key]
      if holds == nil then
        return nil, 'unknown field "' .. name:sub(1, 200) .. '" in the request body'
      end
    end
    i = skip_space(s, after)
    if s:sub(i, i) ~= ":" then
      return nil, not_json(i)
    end
    local problem
    i, problem = check_value(s, skip_space(s, i + 1), holds ~= true and holds or nil, name, depth)
    if i == nil then
      return nil, problem
    end
    i = skip_space(s, i)
    local c = s:sub(i, i)
    if c == "}" then
      return i + 1
    elseif c ~= "," then
      return nil, not_json(i)
    end
    i = skip_space(s, i + 1)
  end
end

-- Checks the value at s[i] (`name` is its field path); returns the index after it, or nil and
-- what is wrong.
check_value = function(s, i, message, name, depth)
  local c = s:sub(i, i)
  if c == "{" or c == "[" then
    if depth >= MAX_DEPTH then
      return nil, "the request body nests deeper than " .. MAX_DEPTH .. " levels"
    end
  end
  if c == "{" then
    return check_object(s, i, message, name .. ".", depth + 1)
  elseif c == "[" then
    i = skip_space(s, i + 1)
    if s:sub(i, i) == "]" then
      return i + 1
    end
    while true do
      local problem
      i, problem = check_value(s, i, message, name, depth + 1)
      if i == nil then
        return nil, problem
      end
      i = skip_space(s, i)
      local d = s:sub(i, i)
      if d == "]" then
        return i + 1
      elseif d ~= "," then
        return nil, not_json(i)
      end
      i = skip_space(s, i + 1)
    end
  elseif c == '"' then
    local raw, after = read_string(s, i)
    if raw == nil then
      return nil, not_json(i)
    end
    local problem = string_problem(raw)
    if problem ~= nil then
      return nil, 'field "' .. name:sub(1, 200) .. '" ' .. problem
    end
    return after
  end
  local word = s:match("^[%w%.%+%-]+", i)
  if word == nil or not is_literal(word) then
    return nil, not_json(i)
  end
  return i + #word
end

-- Checks a whole JSON request body against `message`; returns what is wrong, or nil.
local function body_problem(s, message)
  local start = skip_space(s, 1)
  if start > #s then
    return nil
  end
  if s:sub(start, start) ~= "{" then
    return "the request body must be a JSON object"
  end
  local after, problem = check_object(s, start, message, "", 1)
  if after == nil then
    return problem
  end
  if skip_space(s, after) <= #s then
    return not_json(skip_space(s, after))
  end
  return nil
end

local function percent_decoded(s, plus_is_space)
  if plus_is_space then
    s = s:gsub("%+", " ")
  end
  return (s:gsub("%%(%x%x)", function(hex)
    return string.char(tonumber(hex, 16))
  end))
end

-- What is wrong with the path or the query string, or nil: each parameter, percent-decoded,
-- must be UTF-8.
local function url_problem(path, query)
  if not is_utf8(percent_decoded(path)) then
    for _, route in ipairs(PATH_PARAMETERS) do
      local values = { path:match(route[1]) }
      for index, value in ipairs(values) do
        if not is_utf8(percent_decoded(value)) then
          return 'path parameter "' .. route[2][index] .. '" must be valid UTF-8'
        end
      end
    end
    return "the path must be valid UTF-8"
  end
  for pair in query:gmatch("[^&]+") do
    local key, value = pair:match("^([^=]*)=?(.*)$")
    key = percent_decoded(key, true)
    if not is_utf8(key) then
      return "query parameter names must be valid UTF-8"
    end
    if not is_utf8(percent_decoded(value, true)) then
      return 'query parameter "' .. key:sub(1, 200) .. '" must be valid UTF-8'
    end
  end
  return nil
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
  local path, query = headers:get(":path"):match("^([^?]*)%??(.*)$")
  local problem = url_problem(path, query)
  if problem ~= nil then
    refuse(handle, problem)
    return
  end
  local message = body_message(headers:get(":method"), path)
  if message == nil then
    return
  end
  local body = handle:body()
  if body == nil or body:length() == 0 then
    return
  end
  problem = body_problem(body:getBytes(0, body:length()), message)
  if problem ~= nil then
    refuse(handle, problem)
  end
end

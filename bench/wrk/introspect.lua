-- POST to the introspection endpoint with HTTP Basic client auth.
-- WRK_AUTH="Basic ...", WRK_BODY="token=<an access token obtained beforehand>"
dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "common.lua")

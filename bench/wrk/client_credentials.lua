-- POST /token grant_type=client_credentials with HTTP Basic client auth.
-- WRK_AUTH="Basic ...", WRK_BODY="grant_type=client_credentials&scope=..."
dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "common.lua")

-- GET userinfo with a user's access token obtained beforehand.
-- WRK_AUTH="Bearer <token>"
dofile(debug.getinfo(1, "S").source:match("^@(.*/)") .. "common.lua")

// hiredis's RESP reply reader (redisReaderCreate/Feed/GetReply, freeReplyObject): a pure parser
// with no I/O. Herald does the I/O on its own loop (HeraldRedis.RedisClient). No logic here.
#pragma once
#include <hiredis/hiredis.h>

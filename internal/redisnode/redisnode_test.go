package redisnode

import (
	"maps"
	"testing"
)

func TestParseInfo(t *testing.T) {
	info := "# Server\r\nredis_version:7.2.4\r\nrole:master\r\n\r\n# Commandstats\r\ncmdstat_get:calls=3,usec=5,usec_per_call=1.67\r\nbad line\r\n"
	got := ParseInfo(info)
	want := map[string]string{
		"redis_version": "7.2.4",
		"role":          "master",
		"cmdstat_get":   "calls=3,usec=5,usec_per_call=1.67",
	}
	if !maps.Equal(got, want) {
		t.Errorf("ParseInfo = %v, want %v", got, want)
	}
}

package catalog

import (
	"os"
	"runtime"
	"runtime/pprof"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	if os.Getenv("PEAKPROF") != "" {
		go func() {
			var max uint64
			for {
				time.Sleep(300 * time.Millisecond)
				var ms runtime.MemStats
				runtime.ReadMemStats(&ms)
				if ms.HeapInuse > max {
					max = ms.HeapInuse
					f, _ := os.Create(os.Getenv("PEAKPROF"))
					pprof.Lookup("heap").WriteTo(f, 0)
					f.Close()
					os.WriteFile(os.Getenv("PEAKPROF")+".txt", []byte(time.Now().String()+" heapinuse MB "+itoa(int(ms.HeapInuse>>20))+" sys MB "+itoa(int(ms.Sys>>20))), 0o644)
				}
			}
		}()
	}
	os.Exit(m.Run())
}

func itoa(i int) string { return fmt_itoa(i) }

func fmt_itoa(i int) string {
	s := ""
	if i == 0 {
		return "0"
	}
	for i > 0 {
		s = string(rune('0'+i%10)) + s
		i /= 10
	}
	return s
}

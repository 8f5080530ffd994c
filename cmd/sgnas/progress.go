package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// epochProgress shows per-batch progress: a progress bar per epoch on a
// terminal, else a log line every `every` batches and at the epoch's end.
type epochProgress struct {
	tty   bool
	every int
	bar   *progressbar.ProgressBar
	logf  func(format string, args ...any)
}

func newEpochProgress(every int, logf func(string, ...any)) *epochProgress {
	return &epochProgress{tty: term.IsTerminal(int(os.Stderr.Fd())), every: max(1, every), logf: logf}
}

// update reports batch of batches (from 1) of an epoch (from 1): status
// describes the bar, line is the logged text.
func (p *epochProgress) update(epoch, batch, batches int, status, line string) {
	if p.tty {
		if p.bar == nil {
			p.bar = progressbar.NewOptions(batches, progressbar.OptionSetWriter(os.Stderr),
				progressbar.OptionSetDescription(fmt.Sprintf("epoch %d", epoch)),
				progressbar.OptionShowCount(), progressbar.OptionClearOnFinish(),
				progressbar.OptionThrottle(200*time.Millisecond))
		}
		p.bar.Describe(status)
		p.bar.Set(batch)
		if batch >= batches {
			p.bar.Finish()
			p.bar = nil
		}
		return
	}
	if batch%p.every == 0 || batch == batches {
		p.logf("%s", line)
	}
}

// cmdLogf returns a logger writing timestamped lines to w (stderr if nil).
func cmdLogf(w io.Writer) func(string, ...any) {
	if w == nil {
		w = os.Stderr
	}
	return func(format string, args ...any) {
		fmt.Fprintf(w, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
	}
}

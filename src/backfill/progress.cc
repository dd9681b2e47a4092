#include "backfill/progress.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

namespace tandem::backfill {

std::string format_eta(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  auto n = static_cast<int64_t>(std::llround(s));
  if (n < 60) return fmt::format("{}s", n);
  if (n < 3600) return fmt::format("{}m{:02}s", n / 60, n % 60);
  return fmt::format("{}h{:02}m", n / 3600, (n % 3600) / 60);
}

namespace {
double rate_of(const IndexProgress& p, double elapsed_s) {
  return elapsed_s > 0 ? static_cast<double>(p.docs_this_run.load()) / elapsed_s : 0;
}
double eta_of(const IndexProgress& p, double rate) {
  uint64_t d = p.docs.load();
  if (p.finished) return 0;
  if (rate <= 0) return -1;
  // Documents written since the count was taken can push docs past total.
  return d >= p.total ? 0 : static_cast<double>(p.total - d) / rate;
}
}  // namespace

std::string progress_line(const IndexProgress& p, double elapsed_s) {
  double rate = rate_of(p, elapsed_s);
  return fmt::format("backfill index={} slices={}/{} docs={}/{} rate={:.0f}/s eta={}", p.index,
                     p.slices_done.load(), p.slices, p.docs.load(), p.total, rate,
                     format_eta(eta_of(p, rate)));
}

std::string progress_bar(const IndexProgress& p, double elapsed_s, int width) {
  double rate = rate_of(p, elapsed_s);
  double frac =
      p.total == 0
          ? (p.finished ? 1.0 : 0.0)
          : std::min(1.0, static_cast<double>(p.docs.load()) / static_cast<double>(p.total));
  if (p.finished) frac = 1.0;
  int fill = static_cast<int>(frac * width);
  return fmt::format("{:<24.24} [{}{}] {:>3.0f}% {}/{} {:.0f}/s eta {}", p.index,
                     std::string(static_cast<size_t>(fill), '#'),
                     std::string(static_cast<size_t>(width - fill), '.'), frac * 100, p.docs.load(),
                     p.total, rate, format_eta(eta_of(p, rate)));
}

void ProgressPrinter::render(const std::vector<IndexProgress*>& all, bool final_render) {
  MutexLock g(mu_);
  auto now = std::chrono::steady_clock::now();
  std::vector<std::string> lines;
  for (auto* p : all) {
    if (!p->started) continue;
    // Structured mode prints finished indices once, at the end.
    if (!tty_ && p->finished && !final_render) continue;
    double el = std::chrono::duration<double>(now - p->t0).count();
    lines.push_back(tty_ ? progress_bar(*p, el, 30) : progress_line(*p, el));
  }
  if (!tty_) {
    for (auto& l : lines) out_(l);
    return;
  }
  std::string block;
  if (drawn_lines_ > 0) block += fmt::format("\x1b[{}A", drawn_lines_);  // cursor up
  for (auto& l : lines) block += "\r\x1b[2K" + l + "\n";
  drawn_lines_ = static_cast<int>(lines.size());
  if (!block.empty() && block.back() == '\n') block.pop_back();
  out_(block);
}

}  // namespace tandem::backfill

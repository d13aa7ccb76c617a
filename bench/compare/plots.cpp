// weft-compare's plots: three PNGs drawn by gnuplot from the rows of a run.
//
//   time.png     median time per operation of every scenario, one bar per
//                model, whiskers from the fastest to the slowest run; log
//                scale. Per operation, because 1:1 threads run some
//                scenarios at a smaller n (the table says which).
//   memory.png   peak RSS of every scenario, one bar per model; log scale.
//   scaling.png  the scaling sweep (rows of sweep `scale`): median time and
//                peak RSS against the number of tasks, log-log, one line
//                per model; a model that cannot run a size has no point
//                there (1:1 threads stop at the thread limit).
//   exercise-<name>.png  the same for each of the seed's exercises
//                (onetask, allofcpu, allofsleep, allofnet, pool, disk),
//                every model that ran it, up to the n its class runs.
//
// Design notes
// 1. weft-compare writes the data (time.dat, memory.dat, scaling.dat) and
//    the script (plots.gp) next to the PNGs, so a plot can be restyled and
//    redrawn with `gnuplot plots.gp` without running anything again.
// 2. Only rows whose result was checked ok are plotted: a wrong result has
//    no meaningful time, and a failed or n/a cell has none at all. Missing
//    cells are written as NaN, which gnuplot leaves out.
// 3. A model keeps one colour in every plot.
// 4. gnuplot is an optional tool (Debian: gnuplot-nox): when it is not on
//    PATH, write_plots() says so and weft-compare still writes its tables.
// 5. Every sweep's data file and PNG share a name (scaling.dat,
//    exercise-pool.dat); all of them are drawn by the one plots.gp.

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "results.hpp"

namespace weft_compare {

namespace {

// Note 3: colours by model name; others cycle through the rest.
std::string colour_of(const std::string& model, std::size_t index) {
  static const std::map<std::string, std::string, std::less<>> fixed = {
      {"weft M:N", "#1f5fbf"},          {"weft N:1", "#7fb2f0"},    {"1:1 threads", "#d62728"},
      {"1:1 mutex+condvar", "#f4a3a3"}, {"Boost.Fiber", "#2ca02c"}, {"Go", "#00a5c8"},
      {"Boost.Fiber spin", "#98df8a"},  {"Rust Tokio", "#ff7f0e"}, {"Rust threads", "#ffbb78"},
      {"Python asyncio", "#9467bd"},    {"Python threading", "#c5b0d5"},
      {"Python multiprocessing", "#6b3fa0"}, {"Node promises", "#8c564b"},
      {"Node worker_threads", "#c49c94"}, {"C++ fork", "#7f7f7f"}, {"C++ process pool", "#bcbd22"},
  };
  static const char* spare[] = {"#e377c2", "#17becf", "#393b79", "#637939"};
  const auto it = fixed.find(model);
  return it != fixed.end() ? it->second : spare[index % std::size(spare)];
}

// Point shapes cycle too, so that lines of similar colours stay apart.
int point_type(std::size_t index) {
  static const int kinds[] = {7, 5, 9, 11, 13, 15, 4, 6, 8, 10, 12, 14};
  return kinds[index % std::size(kinds)];
}

// A gnuplot single-quoted string: '' stands for one quote.
std::string gp_quote(std::string_view s) {
  std::string out = "'";
  for (const char c : s) {
    out += c;
    if (c == '\'') out += '\'';
  }
  return out + "'";
}

// A gnuplot double-quoted string (used for titles, which may hold \n).
std::string gp_text(std::string_view s) {
  std::string out = "\"";
  for (const char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out + "\"";
}

// A POSIX shell single-quoted word.
std::string sh_quote(std::string_view s) {
  std::string out = "'";
  for (const char c : s) {
    if (c == '\'')
      out += "'\\''";
    else
      out += c;
  }
  return out + "'";
}

std::string num(double v) {
  if (!std::isfinite(v)) return "NaN";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

// A data-file label: no spaces or quotes (gnuplot splits columns on blanks).
std::string label(std::string s) {
  std::replace(s.begin(), s.end(), ' ', '_');
  std::replace(s.begin(), s.end(), '"', '_');
  return s;
}

bool on_path(const std::string& program) {
  const char* path = std::getenv("PATH");
  std::stringstream dirs(path ? path : "/usr/bin:/bin");
  for (std::string dir; std::getline(dirs, dir, ':');) {
    const std::string candidate = (dir.empty() ? "." : dir) + "/" + program;
    struct stat st {};
    if (::stat(candidate.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
        ::access(candidate.c_str(), X_OK) == 0) {
      return true;
    }
  }
  return false;
}

// Under the bar charts' titles: not every bar is at the same n.
const std::string kSmallerN =
    "1:1 rows run some scenarios at a smaller n than the fiber models (see results.md)\n";

// Network rows have no time per operation; the tables show them.
bool plotted(const row& r) { return r.status == row_status::ok && !r.runs.empty() && !r.network; }

// The models that have at least one plotted row among `rows`, in `models`
// order.
std::vector<std::string> present(const std::vector<const row*>& rows,
                                 const std::vector<std::string>& models) {
  std::vector<std::string> out;
  for (const auto& m : models) {
    if (std::any_of(rows.begin(), rows.end(), [&](const row* r) { return r->model == m; })) {
      out.push_back(m);
    }
  }
  return out;
}

// Writes the data of a grouped bar chart: one line per scenario (in first-
// seen order), then per model `columns(row)` or NaNs. Returns the value
// range seen, for the log axis.
template <class Columns>
std::pair<double, double> write_bars(const std::string& path, const std::vector<const row*>& rows,
                                     const std::vector<std::string>& models, std::size_t width,
                                     Columns columns) {
  std::vector<std::string> scenarios;
  for (const row* r : rows) {
    if (std::find(scenarios.begin(), scenarios.end(), r->scenario) == scenarios.end()) {
      scenarios.push_back(r->scenario);
    }
  }
  double lo = INFINITY, hi = 0;
  std::ofstream out(path);
  out << "# scenario";
  for (const auto& m : models) out << " " << label(m) << " x" << width;
  out << "\n";
  for (const auto& s : scenarios) {
    out << label(s);
    for (const auto& m : models) {
      const auto it = std::find_if(rows.begin(), rows.end(),
                                   [&](const row* r) { return r->scenario == s && r->model == m; });
      std::vector<double> v = it == rows.end() ? std::vector<double>(width, NAN) : columns(**it);
      for (const double x : v) {
        out << " " << num(x);
        if (std::isfinite(x) && x > 0) {
          lo = std::min(lo, x);
          hi = std::max(hi, x);
        }
      }
    }
    out << "\n";
  }
  return {lo, hi};
}

// The script lines of one grouped bar chart over `data`.
void bar_chart(std::ostream& gp, const std::string& png, const std::string& data,
               const std::string& title, const std::string& ylabel,
               const std::vector<std::string>& models, std::pair<double, double> range,
               bool whiskers, std::size_t scenarios) {
  const double lo = std::pow(10.0, std::floor(std::log10(range.first)));
  const double hi = std::pow(10.0, std::ceil(std::log10(range.second * 1.5)));
  gp << "set terminal pngcairo size " << std::max<std::size_t>(900, 110 + 75 * scenarios)
     << ",640 font 'sans,10' noenhanced\n"
     << "set output " << gp_quote(png) << "\n"
     << "set title " << gp_text(title) << "\n"
     << "set ylabel " << gp_text(ylabel) << "\n"
     << "set logscale y\nset yrange [" << num(lo) << ":" << num(hi) << "]\n"
     << "set format y '%.0s%c'\nset grid ytics mytics\n"
     << "set xtics rotate by -30 scale 0 nomirror\nunset x2tics\n"
     << "set key outside top center horizontal\n"
     << "set style data histogram\n"
     << (whiskers ? "set style histogram errorbars gap 1.5 lw 1\n"
                  : "set style histogram clustered gap 1.5\n")
     << "set style fill solid 0.85 border rgb '#404040'\nset boxwidth 0.9\n"
     << "plot ";
  const std::size_t width = whiskers ? 3 : 1;
  for (std::size_t i = 0; i < models.size(); ++i) {
    const std::size_t c = 2 + i * width;
    gp << (i ? ", \\\n     '' " : gp_quote(data) + " ") << "using " << c;
    if (whiskers) gp << ":" << c + 1 << ":" << c + 2;
    if (i == 0) gp << ":xtic(1)";
    gp << " title " << gp_text(models[i]) << " lc rgb '" << colour_of(models[i], i) << "'";
  }
  gp << "\nunset logscale\nunset yrange\nunset format\nunset style\n";
}

// The script lines (and data file `file`.dat) of one sweep's plot,
// `file`.png: median time and peak RSS against n, log-log, one line per
// model.
void sweep_plot(std::ostream& gp, const std::string& p, const std::string& file, const std::string& title,
                const std::vector<std::string>& m, const std::vector<const row*>& sweep) {
  std::vector<long> sizes;
  for (const row* r : sweep) {
    if (std::find(sizes.begin(), sizes.end(), r->n) == sizes.end()) sizes.push_back(r->n);
  }
  std::sort(sizes.begin(), sizes.end());
  const std::string dat = p + file + ".dat";
  std::ofstream out(dat);
  out << "# tasks, then per model: median ms, min ms, max ms, peak RSS MiB\n";
  for (const long n : sizes) {
    out << n;
    for (const auto& model : m) {
      const auto it = std::find_if(sweep.begin(), sweep.end(),
                                   [&](const row* r) { return r->n == n && r->model == model; });
      if (it == sweep.end()) {
        out << " NaN NaN NaN NaN";
      } else {
        out << " " << num((*it)->median_ns / 1e6) << " " << num((*it)->min_ns / 1e6) << " "
            << num((*it)->max_ns / 1e6) << " " << num((*it)->rss_mib);
      }
    }
    out << "\n";
  }
  gp << "set terminal pngcairo size 1400,600 font 'sans,10' noenhanced\n"
     << "set output " << gp_quote(p + file + ".png") << "\n"
     << "set multiplot layout 1,2 title " << gp_text(title) << "\n"
     << "set logscale xy\nset grid xtics ytics mytics\nset format x '%.0s%c'\nset format y '%.0s%c'\nset xlabel 'tasks'\n"
     << "set xtics norotate\nset key inside top left vertical Left reverse\n"
     << "set offsets graph 0.05, graph 0.05, 0, 0\n";
  auto panel = [&](const char* ptitle, const char* ylabel, int column, bool whiskers) {
    gp << "set title " << gp_text(ptitle) << "\nset ylabel " << gp_text(ylabel) << "\nplot ";
    for (std::size_t i = 0; i < m.size(); ++i) {
      const std::size_t c = 2 + i * 4 + static_cast<std::size_t>(column);
      const std::string col = colour_of(m[i], i);
      gp << (i ? ", \\\n     " : "") << gp_quote(dat) << " using 1:" << c
         << " with linespoints lw 2 pt " << point_type(i) << " ps 0.8 lc rgb '" << col << "' title " << gp_text(m[i]);
      if (whiskers) {
        gp << ", \\\n     '' using 1:" << c << ":" << c + 1 << ":" << c + 2
           << " with yerrorbars lc rgb '" << col << "' pt -1 notitle";
      }
    }
    gp << "\n";
  };
  panel("wall time, median (whiskers min-max)", "ms", 0, true);
  panel("peak RSS", "MiB", 3, false);
  gp << "unset multiplot\nunset logscale\nunset format\nunset offsets\n";
}

}  // namespace

bool write_plots(const std::string& dir, const std::vector<row>& rows,
                 const std::vector<std::string>& models, const std::string& subtitle,
                 std::string& why) {
  if (!on_path("gnuplot")) {
    why = "gnuplot not found (Debian: apt-get install gnuplot-nox); no PNGs written";
    return false;
  }
  std::vector<const row*> bars, sweep;
  for (const auto& r : rows) {
    if (!plotted(r)) continue;
    (r.sweep.empty() ? bars : sweep).push_back(&r);
  }
  const std::string p = dir + "/";
  std::ostringstream gp;
  gp << "# Made by weft-compare (bench/compare/plots.cpp); redraw with: gnuplot plots.gp\n";
  bool any = false;

  if (!bars.empty()) {
    const auto m = present(bars, models);
    std::set<std::string> names;
    for (const row* r : bars) names.insert(r->scenario);
    const std::size_t scenarios = names.size();
    const auto t = write_bars(p + "time.dat", bars, m, 3, [](const row& r) {
      const double ops = static_cast<double>(r.runs.front().ops);
      return std::vector<double>{r.median_ns / ops, r.min_ns / ops, r.max_ns / ops};
    });
    bar_chart(gp, p + "time.png", p + "time.dat",
              std::string("Time per operation: median, whiskers min-max (log scale; lower is better)\n") +
                  kSmallerN + subtitle,
              "ns per operation", m, t, true, scenarios);
    const auto r = write_bars(p + "memory.dat", bars, m, 1,
                              [](const row& x) { return std::vector<double>{x.rss_mib}; });
    bar_chart(gp, p + "memory.png", p + "memory.dat",
              std::string("Peak RSS of the whole process: median (log scale; lower is better)\n") +
                  kSmallerN + subtitle,
              "MiB", m, r, false, scenarios);
    any = true;
  }

  // The scaling sweep, then one plot per exercise (note 5).
  std::vector<std::string> sweeps;
  for (const row* r : sweep)
    if (std::find(sweeps.begin(), sweeps.end(), r->sweep) == sweeps.end()) sweeps.push_back(r->sweep);
  for (const auto& name : sweeps) {
    std::vector<const row*> points;
    for (const row* r : sweep)
      if (r->sweep == name) points.push_back(r);
    const bool scale = name == "scale";
    const std::string file = scale ? "scaling" : "exercise-" + name;
    const std::string title =
        scale ? "Scaling: n tasks alive at once (spawn, park on a channel, release, finish)"
              : "Exercise " + name + ": time and peak RSS against the number of tasks (each model up to the n it runs)";
    sweep_plot(gp, p, file, title + "\n" + subtitle, present(points, models), points);
    any = true;
  }
  if (!any) {
    why = "nothing to plot (no cell passed its result check; network rows are in the tables only)";
    return false;
  }
  {
    std::ofstream script(p + "plots.gp");
    script << gp.str();
    if (!script.flush()) {
      why = "cannot write " + p + "plots.gp";
      return false;
    }
  }
  const std::string cmd =
      "gnuplot " + sh_quote(p + "plots.gp") + " > " + sh_quote(p + "gnuplot.log") + " 2>&1";
  const int rc = std::system(cmd.c_str());
  if (rc != 0) {
    why = "gnuplot failed (exit " + std::to_string(rc) + "), see " + p + "gnuplot.log";
    return false;
  }
  return true;
}

}  // namespace weft_compare

// The table-driven command-line parser and the one help layout (mrelay/cli.h).
//
//   Usage: PROGRAM [OPTIONS] ...
//     or:  PROGRAM ...
//
//   <description>
//
//   Options:
//     --name VALUE            help text (unit, default: X)
//   Commands: / extra sections
#include "mrelay/cli.h"

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <utility>

namespace mrelay::cli {
namespace {

// Help text columns: option names from column 2, their help from column 26, lines to 79.
constexpr size_t kHelpColumn = 26;
constexpr size_t kLineWidth = 79;

// "0.001" and "1e+06" rather than std::to_string's "0.001000" and "1000000.000000".
std::string short_number(double value) {
  char text[32];
  std::snprintf(text, sizeof text, "%g", value);
  return text;
}

// Built with append, not operator+: GCC 12 gives a false -Wrestrict on "'" + std::string(...).
std::string quoted(std::string_view text) {
  std::string result;
  result += '\'';
  result.append(text);
  result += '\'';
  return result;
}

// Appends `text` word-wrapped to kLineWidth, continuation lines indented by `indent`; the
// first line continues from `column`.
void append_wrapped(std::string& out, std::string_view text, size_t column, size_t indent) {
  size_t start = 0;
  bool first_word = true;
  while (start < text.size()) {
    size_t end = text.find(' ', start);
    if (end == std::string_view::npos) {
      end = text.size();
    }
    const std::string_view word = text.substr(start, end - start);
    if (!first_word && column + 1 + word.size() > kLineWidth) {
      out += '\n';
      out.append(indent, ' ');
      column = indent;
    } else if (!first_word) {
      out += ' ';
      ++column;
    }
    out.append(word);
    column += word.size();
    first_word = false;
    start = end + 1;
  }
}

// One row of a two-column list: "  LEFT" padded to kHelpColumn, then the wrapped text.
void append_row(std::string& out, const std::string& left, const std::string& text) {
  out += "  ";
  out += left;
  size_t column = 2 + left.size();
  if (column + 2 > kHelpColumn) {
    out += '\n';
    column = 0;
  }
  out.append(kHelpColumn - column, ' ');
  append_wrapped(out, text, kHelpColumn, kHelpColumn);
  out += '\n';
}

std::string option_left(const Option& option) {
  std::string left;
  if (option.short_name != 0) {
    left += '-';
    left += option.short_name;
    left += ", ";
  }
  left += option.name;
  if (!option.metavar.empty()) {
    left += ' ';
    left += option.metavar;
  }
  return left;
}

// "help text (unit, default: X; repeatable)"
std::string option_help(const Option& option) {
  std::vector<std::string> notes;
  if (!option.unit.empty()) {
    notes.push_back(option.unit);
  }
  if (!option.default_text.empty()) {
    notes.push_back("default: " + option.default_text);
  }
  std::string text = option.help;
  if (option.kind == Kind::repeated) {
    text += notes.empty() ? " (repeatable" : " (";
  } else if (!notes.empty()) {
    text += " (";
  }
  for (size_t i = 0; i < notes.size(); ++i) {
    text += (i == 0 ? "" : ", ") + notes[i];
  }
  if (option.kind == Kind::repeated && !notes.empty()) {
    text += "; repeatable";
  }
  if (option.kind == Kind::repeated || !notes.empty()) {
    text += ')';
  }
  return text;
}

Parsed stop(Parsed::Action action, std::string output, Error error = {}) {
  Parsed parsed;
  parsed.action = action;
  parsed.output = std::move(output);
  parsed.error = std::move(error);
  return parsed;
}

std::string error_text(const Error& error) {
  return error.where.empty() ? error.message : error.where + ": " + error.message;
}

}  // namespace

// Where parse() is in argv and what it has found so far.
struct Parser::Cursor {
  int argc;
  const char* const* argv;
  int index;
  const Parser* active;  // the program's parser, or the sub-command's once named
  bool options_ended;    // after "--"
  Parsed parsed;
};

Parser::Parser(std::string program, std::string description)
    : program_(std::move(program)), root_program_(program_), description_(std::move(description)) {}

Parser& Parser::usage(std::string tail) {
  usages_.push_back(std::move(tail));
  return *this;
}

Parser& Parser::describe(std::string description) {
  description_ = std::move(description);
  return *this;
}

Option& Parser::option(Option option) {
  options_.push_back(std::move(option));
  option_groups_.push_back(groups_.size());
  return options_.back();
}

Option& Parser::value(std::string name, std::string metavar, std::string help, Handler handle) {
  Option entry;
  entry.name = std::move(name);
  entry.metavar = std::move(metavar);
  entry.help = std::move(help);
  entry.handle = std::move(handle);
  return option(std::move(entry));
}

Option& Parser::repeated(std::string name, std::string metavar, std::string help, Handler handle) {
  Option& entry = value(std::move(name), std::move(metavar), std::move(help), std::move(handle));
  entry.kind = Kind::repeated;
  return entry;
}

Option& Parser::flag(std::string name, std::string help, Handler handle) {
  Option entry;
  entry.name = std::move(name);
  entry.help = std::move(help);
  entry.kind = Kind::flag;
  entry.handle = std::move(handle);
  return option(std::move(entry));
}

Parser& Parser::group(std::string title, std::string note) {
  groups_.push_back({std::move(title), std::move(note)});
  return *this;
}

Option& Parser::flag(std::string name, std::string help, bool& target) {
  return flag(std::move(name), std::move(help),
              [&target](std::string_view, std::string_view) -> Result<void> {
                target = true;
                return {};
              });
}

Parser& Parser::section(std::string title, std::string body) {
  sections_.emplace_back(std::move(title), std::move(body));
  return *this;
}

Parser& Parser::section(std::string title,
                        const std::vector<std::pair<std::string, std::string>>& rows) {
  std::string body;
  for (const auto& [name, text] : rows) {
    append_row(body, name, text);
  }
  return section(std::move(title), std::move(body));
}

Parser& Parser::pass_through(std::string prefix, std::string what) {
  pass_prefix_ = std::move(prefix);
  pass_what_ = std::move(what);
  return *this;
}

Parser& Parser::command(std::string name, std::string arguments, std::string summary) {
  auto child = std::make_unique<Parser>(program_ + " " + name, summary);
  child->root_program_ = root_program_;
  child->parent_ = this;
  child->usage(arguments.empty() ? "[OPTIONS]" : "[OPTIONS] " + arguments);
  commands_.push_back({std::move(name), std::move(arguments), std::move(summary), std::move(child)});
  return *commands_.back().parser;
}

const Option* Parser::find(std::string_view name, const Parser* global) const {
  for (const Parser* table : {this, global}) {
    if (table == nullptr) {
      continue;
    }
    for (const Option& option : table->options_) {
      const bool short_match = option.short_name != 0 && name.size() == 2 && name[0] == '-' &&
                               name[1] == option.short_name;
      if (name == option.name || short_match) {
        return &option;
      }
    }
  }
  return nullptr;
}

const Parser::Command* Parser::find_command(std::string_view name) const {
  for (const Command& command : commands_) {
    if (command.name == name) {
      return &command;
    }
  }
  return nullptr;
}

// One "--name", "--name=value" or "-s" argument (and its value), on the active table.
Result<void> Parser::take_option(Cursor& cursor, const Parser* global) const {
  const std::string_view arg = cursor.argv[cursor.index++];
  const size_t equals = arg.starts_with("--") ? arg.find('=') : std::string_view::npos;
  const std::string_view name = arg.substr(0, equals);
  const Option* option = find(name, global);
  if (option == nullptr) {
    for (const Parser* table : {this, global}) {
      if (table != nullptr && !table->pass_prefix_.empty() && arg.starts_with(table->pass_prefix_)) {
        cursor.parsed.passed_through.emplace_back(arg);
        return {};
      }
    }
    if (name == "--help" || name == "--version") {
      return fail(std::string(name), "takes no value");
    }
    return fail(std::string(name), "unknown flag");  // the error names the flag, as every error does
  }
  std::string_view value;
  if (option->kind == Kind::flag) {
    if (equals != std::string_view::npos) {
      return fail(option->name, "takes no value");
    }
  } else if (equals != std::string_view::npos) {
    value = arg.substr(equals + 1);
  } else if (cursor.index < cursor.argc &&
             !(std::string_view(cursor.argv[cursor.index]).starts_with("--") &&
               std::string_view(cursor.argv[cursor.index]).size() > 2)) {
    // A following "--flag" means the value was forgotten, not that it is the value.
    value = cursor.argv[cursor.index++];
  } else {
    return fail(option->name, "needs a value (" + option->metavar + ")");
  }
  return option->handle ? option->handle(option->name, value) : Result<void>{};
}

// A word that is not an option: the sub-command's name (first word, when there are
// sub-commands), else a positional argument.
Result<void> Parser::take_word(Cursor& cursor) const {
  const std::string_view word = cursor.argv[cursor.index++];
  if (!commands_.empty() && cursor.parsed.command.empty()) {
    const Command* command = find_command(word);
    if (command == nullptr) {
      return fail("", "unknown command " + quoted(word));
    }
    cursor.parsed.command = command->name;
    cursor.active = command->parser.get();
    return {};
  }
  cursor.parsed.positionals.emplace_back(word);
  return {};
}

Parsed Parser::parse(int argc, const char* const* argv) const {
  Cursor cursor{argc, argv, 1, this, false, {}};
  while (cursor.index < argc) {
    const std::string_view arg = argv[cursor.index];
    const Parser* active = cursor.active;
    if (!cursor.options_ended && arg == "--") {
      cursor.options_ended = true;
      ++cursor.index;
      continue;
    }
    if (!cursor.options_ended && (arg == "--help" || arg == "-h")) {
      return stop(Parsed::Action::help, active->help_text());
    }
    if (!cursor.options_ended && (arg == "--version" || arg == "-V")) {
      return stop(Parsed::Action::version, version_text());
    }
    const bool is_option = !cursor.options_ended && arg.size() > 1 && arg[0] == '-';
    const Result<void> step = is_option ? active->take_option(cursor, active == this ? nullptr : this)
                                        : take_word(cursor);
    if (!step) {
      return stop(Parsed::Action::error, error_line(step.error()), step.error());
    }
  }
  return std::move(cursor.parsed);
}

std::string Parser::error_line(const Error& error) const {
  return root_program_ + ": " + error_text(error) + " (see " + root_program_ + " --help)\n";
}

int Parser::usage_error(const Error& error) const {
  std::fputs(error_line(error).c_str(), stderr);
  return 2;
}

std::string Parser::version_text() const {
  return version_line(root_program_) + "\n";
}

// "Options:" (or "Global options:" for a sub-command's parent), then one section per group.
std::string Parser::options_text(const Parser* global) const {
  std::string out = global == nullptr ? "Options:\n" : "\nGlobal options:\n";
  for (size_t i = 0; i < options_.size(); ++i) {
    if (option_groups_[i] == 0) {
      append_row(out, option_left(options_[i]), option_help(options_[i]));
    }
  }
  if (global == nullptr) {
    append_row(out, "-h, --help", "print this help and exit");
    append_row(out, "-V, --version", "print the version and exit");
  }
  if (!pass_prefix_.empty()) {
    append_row(out, pass_prefix_ + "*", pass_what_);
  }
  for (size_t group = 1; group <= groups_.size(); ++group) {
    out += "\n" + groups_[group - 1].title + ":\n";
    for (size_t i = 0; i < options_.size(); ++i) {
      if (option_groups_[i] == group) {
        append_row(out, option_left(options_[i]), option_help(options_[i]));
      }
    }
    out += groups_[group - 1].note;
  }
  return out;
}

std::string Parser::commands_text() const {
  std::string out = "\nCommands:\n";
  for (const Command& command : commands_) {
    const std::string left = command.arguments.empty() ? command.name
                                                       : command.name + " " + command.arguments;
    append_row(out, left, command.summary);
  }
  return out;
}

std::string Parser::help_text() const {
  std::string out;
  // Further usage lines start with "  or:  " (GNU's form, which help2man reads as synopsis);
  // they are not wrapped, so each must fit 79 columns (ctest dist.help_layout checks).
  const std::vector<std::string> usages = usages_.empty() ? std::vector<std::string>{"[OPTIONS]"}
                                                          : usages_;
  for (size_t i = 0; i < usages.size(); ++i) {
    out += (i == 0 ? "Usage: " : "  or:  ") + program_ + " " + usages[i] + "\n";
  }
  out += '\n';
  append_wrapped(out, description_, 0, 0);
  out += "\n\n";
  out += options_text(nullptr);
  if (parent_ != nullptr && !parent_->options_.empty()) {
    out += parent_->options_text(parent_);
  }
  if (!commands_.empty()) {
    out += commands_text();
  }
  for (const auto& [title, body] : sections_) {
    out += "\n" + title + ":\n" + body;
    if (!body.ends_with('\n')) {
      out += '\n';
    }
  }
  return out;
}

std::optional<int> finish(const Parsed& parsed) {
  switch (parsed.action) {
    case Parsed::Action::run:
      return std::nullopt;
    case Parsed::Action::help:
    case Parsed::Action::version:
      std::fputs(parsed.output.c_str(), stdout);
      return 0;
    case Parsed::Action::error:
      std::fputs(parsed.output.c_str(), stderr);
      return 2;
  }
  return 2;
}

std::string version_line(std::string_view program) {
  std::string line(program);
  line += ' ';
  line += MRELAY_VERSION;
  return line;
}

Result<uint64_t> parse_uint(std::string_view flag, std::string_view text, uint64_t min,
                            uint64_t max) {
  uint64_t value = 0;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || error != std::errc() || end != text.data() + text.size() || value < min ||
      value > max) {
    return fail(std::string(flag), quoted(text) + " is not an integer in " + std::to_string(min) +
                                       ".." + std::to_string(max));
  }
  return value;
}

Result<double> parse_double(std::string_view flag, std::string_view text, double min,
                            double max) {
  const std::string copy(text);
  char* end = nullptr;
  errno = 0;
  const double value = std::strtod(copy.c_str(), &end);
  if (copy.empty() || end != copy.c_str() + copy.size() || errno != 0 || !(value >= min) ||
      !(value <= max)) {
    return fail(std::string(flag), quoted(text) + " is not a number in " + short_number(min) +
                                       ".." + short_number(max));
  }
  return value;
}

Handler store_text(std::string& target) {
  return [&target](std::string_view, std::string_view text) -> Result<void> {
    target = std::string(text);
    return {};
  };
}

Handler append_text(std::vector<std::string>& target) {
  return [&target](std::string_view, std::string_view text) -> Result<void> {
    target.emplace_back(text);
    return {};
  };
}

Handler store_double(double& target, double min, double max) {
  return [&target, min, max](std::string_view flag, std::string_view text) -> Result<void> {
    auto value = parse_double(flag, text, min, max);
    if (!value) {
      return tl::unexpected(value.error());
    }
    target = *value;
    return {};
  };
}

}  // namespace mrelay::cli

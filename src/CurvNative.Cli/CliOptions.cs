using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;

namespace CurvNative.Cli;

/// <summary>Element type of a computation, chosen with <c>--dtype</c>.</summary>
internal enum DType { Float32, Float64 }

/// <summary>Options shared by several commands, with their validation.</summary>
internal static class CliOptions
{
    /// <summary>A required path of an existing input file; checked by <see cref="PathGuard"/> before the command runs.</summary>
    public static PathOption InputFile(string name, string description, bool required = true) => new(name, PathRole.Input)
    {
        Description = description,
        Required = required,
    };

    /// <summary>A path of an output file (its directory must exist); checked by <see cref="PathGuard"/> before the
    /// command runs. An optional output may default to <paramref name="defaultValue"/>; an empty value means none.</summary>
    public static PathOption OutputFile(string name, string description, bool required = true, string? defaultValue = null)
    {
        var option = new PathOption(name, PathRole.Output) { Description = description, Required = required };
        if (defaultValue is not null) option.DefaultValueFactory = _ => defaultValue;
        return option;
    }

    /// <summary><c>--dtype float32|float64</c>, default float64.</summary>
    public static Option<string> Dtype()
    {
        var option = new Option<string>("--dtype")
        {
            Description = "Element type of the computation and of the written result.",
            HelpName = "float32|float64",
            DefaultValueFactory = _ => "float64",
        };
        option.Validators.Add(result =>
        {
            var text = result.GetValueOrDefault<string>();
            if (ParseDtype(text) is null) result.AddError($"--dtype must be float32 or float64, got '{text}'.");
        });
        return option;
    }

    /// <summary>The element type named by a <c>--dtype</c> value (case-insensitive), or null.</summary>
    public static DType? ParseDtype(string? text) => text?.ToLowerInvariant() switch
    {
        "float32" => DType.Float32,
        "float64" => DType.Float64,
        _ => null,
    };

    /// <summary><c>--batch-size B</c>: a positive number of samples per mini-batch; absent means the whole data set.</summary>
    public static Option<int?> BatchSize() => new("--batch-size")
    {
        Description = "Samples per mini-batch (default: the whole data set). The result does not depend on it.",
        HelpName = "B",
        CustomParser = result => ParseInt(result, "--batch-size", minimum: 1),
    };

    /// <summary>A positive integer option with a default value and an optional upper bound (said in --help).</summary>
    public static Option<int> PositiveInt(string name, string description, int defaultValue, string helpName = "N", int maximum = int.MaxValue) => new(name)
    {
        Description = maximum == int.MaxValue ? description : $"{description} At most {maximum}.",
        HelpName = helpName,
        DefaultValueFactory = _ => defaultValue,
        CustomParser = result => ParseInt(result, name, minimum: 1, maximum) ?? defaultValue,
    };

    /// <summary>An optional positive integer option (absent: null, the command's default).</summary>
    public static Option<int?> OptionalPositiveInt(string name, string description, string helpName = "N") => new(name)
    {
        Description = description,
        HelpName = helpName,
        CustomParser = result => ParseInt(result, name, minimum: 1),
    };

    /// <summary>A real-valued option, parsed in the invariant culture and checked at parse time, so a bad value is a
    /// usage error naming the option before any file is read.</summary>
    /// <param name="name">The option name.</param>
    /// <param name="description">Help text.</param>
    /// <param name="defaultValue">The value when the option is absent.</param>
    /// <param name="valid">The accepted values (NaN and infinities must be refused here if not meant).</param>
    /// <param name="expected">The accepted values in words, for the message: "--tol must be {expected}, got 'x'".</param>
    /// <param name="helpName">The value's name in --help.</param>
    public static Option<double> Real(string name, string description, double defaultValue, Func<double, bool> valid, string expected, string helpName = "X") => new(name)
    {
        Description = $"{description} Must be {expected}.",
        HelpName = helpName,
        DefaultValueFactory = _ => defaultValue,
        CustomParser = result =>
        {
            if (result.Tokens.Count == 0) return defaultValue;
            var text = result.Tokens[0].Value;
            if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double value) || !valid(value))
            {
                result.AddError($"{name} must be {expected}, got '{text}'.");
                return defaultValue;
            }
            return value;
        },
    };

    /// <summary>A tolerance in (0, 1).</summary>
    public static bool IsFraction(double x) => x > 0 && x < 1;

    /// <summary>An integer option with a default value.</summary>
    public static Option<int> Int(string name, string description, int defaultValue, string helpName = "N") => new(name)
    {
        Description = description,
        HelpName = helpName,
        DefaultValueFactory = _ => defaultValue,
        CustomParser = result => ParseInt(result, name, minimum: int.MinValue) ?? defaultValue,
    };

    /// <summary>Parses the option's single token as an integer of at least <paramref name="minimum"/>; reports one clear error otherwise.</summary>
    private static int? ParseInt(ArgumentResult result, string name, int minimum, int maximum = int.MaxValue)
    {
        if (result.Tokens.Count == 0) return null;
        var text = result.Tokens[0].Value;
        bool positive = minimum == 1;
        if (!int.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out int value) || value < minimum || value > maximum)
        {
            string bound = maximum == int.MaxValue ? "" : $" of at most {maximum}";
            result.AddError($"{name} must be {(positive ? "a positive integer" : "an integer")}{bound}, got '{Interop.Text.Escape(text, 40)}'.");
            return null;
        }
        return value;
    }
}

/// <summary>Whether a <see cref="PathOption"/> names a file the command reads or one it writes.</summary>
internal enum PathRole { Input, Output }

/// <summary>
/// An option naming a file the command reads (<see cref="PathRole.Input"/>) or writes (<see cref="PathRole.Output"/>).
/// Create it with <see cref="CliOptions.InputFile"/> or <see cref="CliOptions.OutputFile"/> and add it to a command:
/// <see cref="App"/> then runs <see cref="PathGuard.Check"/> on every such option before the command's action, so a
/// new command (pde, pinn) gets the input, output and same-file checks without a line of its own.
/// </summary>
internal sealed class PathOption : Option<string>, IPathOption
{
    public PathOption(string name, PathRole role) : base(name)
    {
        Role = role;
        HelpName = "path";
    }

    public PathRole Role { get; }

    public IEnumerable<string> Paths(ParseResult parsed) => parsed.GetValue(this) is { Length: > 0 } path ? [path] : [];
}

/// <summary>An option that takes several paths of one role (e.g. <c>--plot a.png a.svg</c>); checked by <see cref="PathGuard"/> like <see cref="PathOption"/>.</summary>
internal sealed class PathListOption(string name, PathRole role) : Option<string[]>(name), IPathOption
{
    public PathRole Role { get; } = role;

    public IEnumerable<string> Paths(ParseResult parsed) => (parsed.GetValue(this) ?? []).Where(p => p.Length > 0);
}

/// <summary>An option whose values are file paths of one role, for <see cref="PathGuard"/>.</summary>
internal interface IPathOption
{
    string Name { get; }
    PathRole Role { get; }
    IEnumerable<string> Paths(ParseResult parsed);
}

/// <summary>Checks on paths before any work starts, so a bad path fails fast and nothing is written.</summary>
internal static class PathChecks
{
    /// <summary>Throws unless <paramref name="path"/> names an existing file.</summary>
    public static void InputFile(string path, string option)
    {
        if (string.IsNullOrWhiteSpace(path)) throw CliException.Usage($"{option} needs a file path.");
        if (Directory.Exists(path)) throw CliException.BadInput($"{path}: is a directory; expected a file ({option}).");
        if (!File.Exists(path)) throw CliException.BadInput($"{path}: file not found ({option}).");
    }

    /// <summary>Throws unless <paramref name="path"/> can name a new or existing file in an existing directory.</summary>
    public static void OutputFile(string path, string option)
    {
        if (string.IsNullOrWhiteSpace(path)) throw CliException.Usage($"{option} needs a file path.");
        string full;
        try { full = Path.GetFullPath(path); }
        catch (Exception e) when (e is ArgumentException or NotSupportedException or PathTooLongException)
        { throw CliException.Usage($"{path}: not a valid file path ({option}): {e.Message}"); }
        if (Directory.Exists(full)) throw CliException.BadInput($"{path}: is a directory; expected a file path ({option}).");
        var dir = Path.GetDirectoryName(full);
        if (string.IsNullOrEmpty(dir) || Path.GetFileName(full).Length == 0) throw CliException.Usage($"{path}: does not name a file ({option}).");
        if (!Directory.Exists(dir)) throw CliException.BadInput($"{path}: the directory '{dir}' does not exist ({option}).");
    }
}

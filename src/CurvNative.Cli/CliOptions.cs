using System.CommandLine;

namespace CurvNative.Cli;

/// <summary>Element type of a computation, chosen with <c>--dtype</c>.</summary>
internal enum DType { Float32, Float64 }

/// <summary>Options shared by several commands, with their validation.</summary>
internal static class CliOptions
{
    /// <summary>A required path of an existing input file.</summary>
    public static Option<string> InputFile(string name, string description) => new(name)
    {
        Description = description,
        Required = true,
        HelpName = "path",
    };

    /// <summary>A required path of an output file (its directory must exist).</summary>
    public static Option<string> OutputFile(string name, string description) => new(name)
    {
        Description = description,
        Required = true,
        HelpName = "path",
    };

    /// <summary><c>--dtype float32|float64</c>, default float64.</summary>
    public static Option<DType> Dtype() => new("--dtype")
    {
        Description = "Element type of the computation and of the written result: float32 or float64.",
        HelpName = "float32|float64",
        DefaultValueFactory = _ => DType.Float64,
        CustomParser = result =>
        {
            if (result.Tokens.Count == 0) return DType.Float64;
            var text = result.Tokens[0].Value;
            switch (text.ToLowerInvariant())
            {
                case "float32": return DType.Float32;
                case "float64": return DType.Float64;
                default:
                    result.AddError($"--dtype must be float32 or float64, got '{text}'.");
                    return DType.Float64;
            }
        },
    };

    /// <summary><c>--batch-size B</c>: a positive number of samples per mini-batch; absent means the whole data set.</summary>
    public static Option<int?> BatchSize() => Positive(new Option<int?>("--batch-size")
    {
        Description = "Samples per mini-batch (default: the whole data set). The result does not depend on it.",
        HelpName = "B",
    });

    /// <summary>A positive integer option with a default value.</summary>
    public static Option<int> PositiveInt(string name, string description, int defaultValue, string helpName = "N")
    {
        var option = new Option<int>(name) { Description = description, HelpName = helpName, DefaultValueFactory = _ => defaultValue };
        option.Validators.Add(result =>
        {
            if (result.Implicit) return;
            if (result.GetValueOrDefault<int>() < 1) result.AddError($"{name} must be a positive integer, got '{TokenText(result)}'.");
        });
        return option;
    }

    private static Option<int?> Positive(Option<int?> option)
    {
        option.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<int?>() is < 1)
                result.AddError($"{option.Name} must be a positive integer, got '{TokenText(result)}'.");
        });
        return option;
    }

    private static string TokenText(System.CommandLine.Parsing.OptionResult result)
        => string.Join(" ", result.Tokens.Select(t => t.Value));
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

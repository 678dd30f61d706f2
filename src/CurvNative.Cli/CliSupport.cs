namespace CurvNative.Cli;

/// <summary>Process exit codes.</summary>
internal static class ExitCodes
{
    /// <summary>The command succeeded.</summary>
    public const int Success = 0;

    /// <summary>A file is missing, unreadable or holds bad data (wrong dtype, shape, key, non-finite values).</summary>
    public const int BadInput = 1;

    /// <summary>The command line is wrong: unknown command or option, missing or invalid option value.</summary>
    public const int Usage = 2;
}

/// <summary>A failure that has already been described for the user; <see cref="App"/> prints it as one line.</summary>
internal sealed class CliException(int exitCode, string message) : Exception(message)
{
    /// <summary>The process exit code.</summary>
    public int ExitCode { get; } = exitCode;

    /// <summary>A bad command-line value (exit code 2).</summary>
    public static CliException Usage(string message) => new(ExitCodes.Usage, message);

    /// <summary>A bad or missing file (exit code 1).</summary>
    public static CliException BadInput(string message) => new(ExitCodes.BadInput, message);
}

/// <summary>Where a command writes: stdout for results, stderr for diagnostics.</summary>
internal sealed record CliContext(TextWriter Out, TextWriter Error);

/// <summary>Text helpers.</summary>
internal static class CliText
{
    /// <summary>Collapses line breaks (and the indentation after them) so a message fits on one line.</summary>
    public static string OneLine(string message)
    {
        var parts = message.Split(['\r', '\n'], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        return parts.Length == 0 ? "unknown error" : string.Join(" ", parts);
    }
}

/// <summary>
/// The one rule for results, used by every command: a non-finite result (overflow, a NaN from the model) is a
/// reported failure with exit code 1, never printed or written.
/// </summary>
internal static class Results
{
    /// <summary>Throws unless every element of <paramref name="result"/> is finite.</summary>
    public static void EnsureFinite<T>(CurvNative.Tensors.Tensor<T> result, string what, string? outPath) where T : unmanaged, System.Numerics.IFloatingPointIeee754<T>
    {
        if (!result.AllFinite()) throw NonFinite($"the {what} has non-finite elements", typeof(T), outPath);
    }

    /// <summary>Throws unless <paramref name="value"/> is finite.</summary>
    public static void EnsureFinite(double value, string what, Type precision, string? outPath)
    {
        if (!double.IsFinite(value)) throw NonFinite($"the {what} is {value.ToString(System.Globalization.CultureInfo.InvariantCulture)}", precision, outPath);
    }

    private static CliException NonFinite(string what, Type precision, string? outPath) =>
        CliException.BadInput($"{what} (overflow in {(precision == typeof(float) ? "float32" : "float64")}?); {(outPath is null ? "nothing was printed" : $"{outPath} was not written")}.");
}

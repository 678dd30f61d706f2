using System.Text.Json;
using CurvNative.Cli;
using CurvNative.Tests.NN;

namespace CurvNative.Tests.Cli;

/// <summary>The result of one in-process run of the command line.</summary>
internal sealed record CliRun(int ExitCode, string Out, string Error)
{
    /// <summary>The lines written to stderr.</summary>
    public string[] ErrorLines => Error.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.TrimEnd('\r')).ToArray();

    public override string ToString() => $"exit {ExitCode}; stdout: {Out}; stderr: {Error}";
}

/// <summary>Runs <see cref="App.Run"/> in-process and locates the PyTorch model fixtures.</summary>
internal static class CliRunner
{
    public static CliRun Run(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = App.Run(args, stdout, stderr);
        return new CliRun(code, stdout.ToString(), stderr.ToString());
    }

    public static string Model(string name, string file) => PyTorchFixtureTests.Fixture("models", name, file);

    /// <summary>--model, --weights and --data of a fixture model.</summary>
    public static string[] ModelArgs(string name) =>
        ["--model", Model(name, "model.json"), "--weights", Model(name, "weights.safetensors"), "--data", Model(name, "data.safetensors")];

    /// <summary>The fixture's spec, weights and data loaded in float64.</summary>
    public static CurvNative.Interop.ModelFiles<double> Load(string name) =>
        CurvNative.Interop.ModelFiles<double>.Load(Model(name, "model.json"), Model(name, "weights.safetensors"), Model(name, "data.safetensors"));

    public static double ExpectedLoss(string name)
    {
        using var json = JsonDocument.Parse(File.ReadAllText(Model(name, "loss.json")));
        return json.RootElement.GetProperty("loss").GetDouble();
    }

    /// <summary>||actual - expected|| / ||expected||.</summary>
    public static double RelativeError(ReadOnlySpan<double> actual, ReadOnlySpan<double> expected)
    {
        if (actual.Length != expected.Length) return double.PositiveInfinity;
        double diff = 0, norm = 0;
        for (int i = 0; i < actual.Length; i++) { diff += Math.Pow(actual[i] - expected[i], 2); norm += Math.Pow(expected[i], 2); }
        return Math.Sqrt(diff / norm);
    }
}

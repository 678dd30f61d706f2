using CurvNative.Interop;
using CurvNative.Tensors;
using CurvNative.Tests.Interop;
using Xunit;
using static CurvNative.Tests.Cli.CliRunner;

namespace CurvNative.Tests.Cli;

/// <summary>
/// Bad input to <c>grad</c> and <c>loss</c>: a non-zero exit code (2 for usage errors, 1 for bad files),
/// exactly one line on stderr naming the problem, nothing on stdout, and no output file.
/// Each case starts from copies of the <c>mlp</c> fixture in a temporary directory and breaks one thing.
/// </summary>
public class BadInputTests
{
    /// <summary>A broken input: how to break the copied files, extra arguments, and what stderr must mention.</summary>
    private sealed record Case(int ExitCode, Func<Files, string[]> Break, params string[] Mentions);

    /// <summary>The copied fixture files; <see cref="Args"/> are the usual --model/--weights/--data arguments.</summary>
    private sealed class Files(TempDir dir)
    {
        public string Model { get; set; } = Copy(dir, "model.json");
        public string Weights { get; set; } = Copy(dir, "weights.safetensors");
        public string Data { get; set; } = Copy(dir, "data.safetensors");
        public TempDir Dir => dir;

        public string[] Args => ["--model", Model, "--weights", Weights, "--data", Data];

        private static string Copy(TempDir dir, string name)
        {
            var path = dir.File(name);
            File.Copy(CliRunner.Model("mlp", name), path);
            return path;
        }

        /// <summary>Rewrites a safetensors file with one entry replaced (null removes it).</summary>
        public void Replace(string path, string key, object? value)
        {
            var file = SafetensorsFile.Read(path);
            var tensors = new Dictionary<string, object>();
            foreach (var name in file.Names)
            {
                if (name == key) { if (value is not null) tensors[name] = value; continue; }
                tensors[name] = file.GetInfo(name).DType == SafetensorsFile.I64 ? file.GetInt64(name) : file.GetTensor<double>(name);
            }
            if (value is not null && !tensors.ContainsKey(key)) tensors[key] = value;
            SafetensorsFile.Write(path, tensors);
        }

        public Tensor<double> Get(string path, string key) => SafetensorsFile.Read(path).GetTensor<double>(key);

        public static void Truncate(string path, int length)
        {
            var bytes = File.ReadAllBytes(path);
            File.WriteAllBytes(path, bytes[..Math.Min(length, bytes.Length)]);
        }
    }

    private static string[] Plain(Files f) => f.Args;

    private static readonly Dictionary<string, Case> Cases = new()
    {
        // ------------------------------------------------------------------ missing or unreadable files
        ["missing model"] = new(1, f => { File.Delete(f.Model); return f.Args; }, "model.json", "not found"),
        ["missing weights"] = new(1, f => { File.Delete(f.Weights); return f.Args; }, "weights.safetensors", "not found"),
        ["missing data"] = new(1, f => { File.Delete(f.Data); return f.Args; }, "data.safetensors", "not found"),
        ["weights path is a directory"] = new(1, f => { f.Weights = f.Dir.Path; return f.Args; }, "directory"),
        ["truncated weights"] = new(1, f => { Files.Truncate(f.Weights, 3000); return f.Args; }, "weights.safetensors"),
        ["weights cut inside the header"] = new(1, f => { Files.Truncate(f.Weights, 40); return f.Args; }, "weights.safetensors", "header"),
        ["weights shorter than the length prefix"] = new(1, f => { Files.Truncate(f.Weights, 5); return f.Args; }, "weights.safetensors"),
        ["weights not safetensors"] = new(1, f => { File.WriteAllText(f.Weights, "this is not a safetensors file at all"); return f.Args; }, "weights.safetensors"),
        ["truncated data"] = new(1, f => { Files.Truncate(f.Data, 1000); return f.Args; }, "data.safetensors"),
        ["empty data file"] = new(1, f => { File.WriteAllBytes(f.Data, []); return f.Args; }, "data.safetensors"),

        // ------------------------------------------------------------------ weights content
        ["weights of dtype I64"] = new(1, f => { f.Replace(f.Weights, "0.weight", new Int64Tensor(new long[16 * 12], 16, 12)); return f.Args; },
            "weights.safetensors", "'0.weight'", "dtype"),
        ["weights missing a key"] = new(1, f => { f.Replace(f.Weights, "2.bias", null); return f.Args; },
            "weights.safetensors", "'2.bias'", "missing"),
        ["weights with an unknown key"] = new(1, f => { f.Replace(f.Weights, "9.weight", Tensor<double>.Zeros(3)); return f.Args; },
            "weights.safetensors", "'9.weight'"),
        ["transposed weight"] = new(1, f =>
        {
            var w = f.Get(f.Weights, "0.weight");
            var t = Tensor<double>.Zeros(12, 16);
            for (int i = 0; i < 16; i++) for (int j = 0; j < 12; j++) t[j, i] = w[i, j];
            f.Replace(f.Weights, "0.weight", t);
            return f.Args;
        }, "weights.safetensors", "'0.weight'", "expected shape [16, 12], found [12, 16]"),
        ["NaN in weights"] = new(1, f =>
        {
            var w = f.Get(f.Weights, "4.weight");
            w.Span[7] = double.NaN;
            f.Replace(f.Weights, "4.weight", w);
            return f.Args;
        }, "weights.safetensors", "'4.weight'", "NaN"),
        ["infinite bias"] = new(1, f =>
        {
            var b = f.Get(f.Weights, "2.bias");
            b.Span[0] = double.NegativeInfinity;
            f.Replace(f.Weights, "2.bias", b);
            return f.Args;
        }, "weights.safetensors", "'2.bias'", "Infinity"),

        // ------------------------------------------------------------------ data content
        ["data without y"] = new(1, f => { f.Replace(f.Data, "y", null); return f.Args; }, "data.safetensors", "'y'"),
        ["data x of the wrong shape"] = new(1, f => { f.Replace(f.Data, "x", Tensor<double>.Zeros(13, 11)); return f.Args; },
            "data.safetensors", "'x'", "[13, 11]"),
        ["float labels for cross-entropy"] = new(1, f => { f.Replace(f.Data, "y", Tensor<double>.Zeros(13)); return f.Args; },
            "data.safetensors", "'y'", "I64"),
        ["class index out of range"] = new(1, f =>
        {
            var y = SafetensorsFile.Read(f.Data).GetInt64("y");
            y.Data[3] = 5;
            f.Replace(f.Data, "y", y);
            return f.Args;
        }, "data.safetensors", "'y'", "5"),
        ["NaN in data"] = new(1, f =>
        {
            var x = f.Get(f.Data, "x");
            x.Span[0] = double.NaN;
            f.Replace(f.Data, "x", x);
            return f.Args;
        }, "data.safetensors", "'x'", "NaN"),

        // ------------------------------------------------------------------ model spec
        ["unknown layer type"] = new(1, f => { File.WriteAllText(f.Model, File.ReadAllText(f.Model).Replace("\"gelu\"", "\"swish\"")); return f.Args; },
            "model.json", "swish"),
        ["model spec not JSON"] = new(1, f => { Files.Truncate(f.Model, 100); return f.Args; }, "model.json", "JSON"),
        ["layers that do not chain"] = new(1, f => { File.WriteAllText(f.Model, File.ReadAllText(f.Model).Replace("\"in_features\": 16,\n      \"out_features\": 5", "\"in_features\": 17,\n      \"out_features\": 5")); return f.Args; },
            "model.json", "layers[4]"),
        ["unknown loss"] = new(1, f => { File.WriteAllText(f.Model, File.ReadAllText(f.Model).Replace("cross_entropy", "hinge")); return f.Args; },
            "model.json", "hinge"),

        // ------------------------------------------------------------------ usage
        ["unknown dtype"] = new(2, f => [.. f.Args, "--dtype", "float16"], "--dtype", "float16"),
        ["batch size zero"] = new(2, f => [.. f.Args, "--batch-size", "0"], "--batch-size"),
        ["negative batch size"] = new(2, f => [.. f.Args, "--batch-size", "-3"], "--batch-size"),
        ["batch size not a number"] = new(2, f => [.. f.Args, "--batch-size", "ten"], "--batch-size"),
        ["unknown option"] = new(2, f => [.. f.Args, "--frobnicate"], "--frobnicate"),
        ["missing --data"] = new(2, f => f.Args[..4], "--data"),
    };

    public static TheoryData<string> CaseNames() => new(Cases.Keys);

    private static void AssertOneLineError(CliRun run, Case c, string what)
    {
        Assert.True(run.ExitCode == c.ExitCode, $"{what}: expected exit code {c.ExitCode}; {run}");
        Assert.Equal("", run.Out);
        var lines = run.ErrorLines;
        Assert.True(lines.Length == 1, $"{what}: expected one line on stderr, got {lines.Length}: {run.Error}");
        Assert.StartsWith("curvnative: error: ", lines[0]);
        Assert.DoesNotContain("   at ", run.Error);
        Assert.DoesNotContain("Exception", run.Error);
        foreach (var m in c.Mentions) Assert.True(lines[0].Contains(m, StringComparison.Ordinal), $"{what}: stderr should mention \"{m}\": {lines[0]}");
    }

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void GradFailsCleanlyWithoutOutput(string name)
    {
        var c = Cases[name];
        using var dir = new TempDir();
        var files = new Files(dir);
        var args = c.Break(files);
        var before = dir.Entries().Order().ToArray();
        var output = dir.File("g.npy");
        var run = Run(["grad", .. args, "--out", output]);
        AssertOneLineError(run, c, $"grad, {name}");
        Assert.False(File.Exists(output), $"grad, {name}: {output} was created");
        Assert.Equal(before, dir.Entries().Order().ToArray());
    }

    [Theory]
    [MemberData(nameof(CaseNames))]
    public void LossFailsCleanly(string name)
    {
        var c = Cases[name];
        using var dir = new TempDir();
        var run = Run(["loss", .. c.Break(new Files(dir))]);
        AssertOneLineError(run, c, $"loss, {name}");
    }

    [Fact]
    public void GradLeavesAnExistingOutputUntouchedOnFailure()
    {
        using var dir = new TempDir();
        var files = new Files(dir);
        Files.Truncate(files.Weights, 3000);
        var output = dir.File("g.npy");
        File.WriteAllText(output, "previous result");
        var run = Run(["grad", .. files.Args, "--out", output]);
        Assert.Equal(1, run.ExitCode);
        Assert.Equal("previous result", File.ReadAllText(output));
    }

    [Fact]
    public void GradWithAMissingOutputDirectoryFailsBeforeLoading()
    {
        using var dir = new TempDir();
        var files = new Files(dir);
        var output = Path.Combine(dir.Path, "no-such-dir", "g.npy");
        var run = Run(["grad", .. files.Args, "--out", output]);
        AssertOneLineError(run, new Case(1, Plain, "no-such-dir", "does not exist"), "grad, missing output directory");
        Assert.False(Directory.Exists(Path.GetDirectoryName(output)));
    }

    [Fact]
    public void GradWithADirectoryAsOutputFails()
    {
        using var dir = new TempDir();
        var files = new Files(dir);
        var run = Run(["grad", .. files.Args, "--out", dir.Path]);
        AssertOneLineError(run, new Case(1, Plain, "directory"), "grad, output is a directory");
    }

    [Fact]
    public void GradWithoutOutIsAUsageError()
    {
        using var dir = new TempDir();
        var run = Run(["grad", .. new Files(dir).Args]);
        AssertOneLineError(run, new Case(2, Plain, "--out"), "grad without --out");
    }

    [Theory]
    [InlineData(new string[0], "command")]
    [InlineData(new[] { "frobnicate" }, "frobnicate")]
    [InlineData(new[] { "demo", "--epochs", "0" }, "--epochs")]
    [InlineData(new[] { "demo", "--epochs", "many" }, "--epochs")]
    [InlineData(new[] { "demo", "--seed", "x" }, "--seed")]
    public void UsageErrorsExitWithTwo(string[] args, string mention)
    {
        var run = Run(args);
        AssertOneLineError(run, new Case(2, Plain, mention), string.Join(" ", args));
    }

    [Fact]
    public void HelpGoesToStdout()
    {
        var run = Run("--help");
        Assert.Equal(0, run.ExitCode);
        Assert.Equal("", run.Error);
        foreach (var command in new[] { "demo", "grad", "loss" }) Assert.Contains(command, run.Out);
        var grad = Run("grad", "--help");
        Assert.Equal(0, grad.ExitCode);
        foreach (var option in new[] { "--model", "--weights", "--data", "--out", "--dtype", "--batch-size" }) Assert.Contains(option, grad.Out);
    }
}

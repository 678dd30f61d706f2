using System.Text.Json;
using CurvNative.Interop;
using CurvNative.Operators;
using CurvNative.Operators.Curvature;
using CurvNative.Tensors;
using CurvNative.Tests.Interop;
using Xunit;
using static CurvNative.Tests.Cli.CliRunner;

namespace CurvNative.Tests.Cli;

/// <summary>
/// Numerical failures and option values of the analysis commands (issue 15, bugs 2 and 6 and the weaker spots):
/// a singular undamped KFAC/EKFAC solve is refused naming --damping, CG separates an unattainable tolerance from
/// indefiniteness and the CLI offers --method minres, a one-sample trace keeps its estimate, non-finite results are
/// refused by every command, and bad option values are usage errors that name the option before any file is read.
/// </summary>
public sealed class NumericalFailureTests : IDisposable
{
    private readonly TempDir _dir = new();

    public void Dispose() => _dir.Dispose();

    private string Rhs(int p)
    {
        var b = Tensor<double>.Zeros(p);
        for (int i = 0; i < p; i++) b.Span[i] = Math.Cos(0.7 * i);
        var path = _dir.File($"b{p}.npy");
        Npy.Write(path, b);
        return path;
    }

    private static int Parameters(string model) => Load(model).Parameters.Sum(q => q.Length);

    private static string OneErrorLine(CliRun run, int exitCode)
    {
        Assert.True(run.ExitCode == exitCode, run.ToString());
        Assert.Equal("", run.Out);
        return Assert.Single(run.ErrorLines);
    }

    [Theory]
    [InlineData("mlp", "kfac")]
    [InlineData("mlp", "ekfac")]
    [InlineData("cnn", "kfac")]
    [InlineData("cnn", "ekfac")]
    public void AnUndampedSingularKfacSolveIsRefusedNamingDampingAndADampedOneSolves(string model, string curvature)
    {
        var b = Rhs(Parameters(model));
        var x = _dir.File("x.npy");
        string[] args = ["solve", .. ModelArgs(model), "--curvature", curvature, "--fisher-type", "type-2", "--method", "kfac", "--rhs", b, "--out", x];

        var line = OneErrorLine(Run(args), 1);
        Assert.Contains("singular", line);
        Assert.Contains("--damping", line);
        Assert.DoesNotContain("internal error", line);
        Assert.False(File.Exists(x));

        var damped = Run([.. args, "--damping", "1e-3"]);
        Assert.True(damped.ExitCode == 0, damped.ToString());
        var files = Load(model);
        var request = new CurvatureRequest { Kind = CurvatureRequest.ParseKind(curvature), FisherType = CurvNative.Operators.Curvature.Kfac.FisherType.Type2 };
        var op = request.Build(files.Model, files.Loss, files.Data);
        var residual = (op + new IdentityOperator<double>(op.InputSpace) * 1e-3).MatVec(Npy.Read<double>(x));
        Autodiff.FiniteDifference.AssertClose(Npy.Read<double>(b), residual, 1e-8, $"({curvature} + 1e-3 I) x = b");
    }

    [Fact]
    public void CgOnASingularSemidefiniteSystemReportsAnUnattainableToleranceAndOffersMinres()
    {
        // The empirical Fisher has rank <= N = 13 out of P = 565: without damping b is not in its range.
        var line = OneErrorLine(Run(["solve", .. ModelArgs("mlp"), "--curvature", "ef", "--rhs", Rhs(565), "--tol", "1e-12", "--out", _dir.File("x.npy")]), 1);
        Assert.Contains("tolerance not attainable", line);
        Assert.Contains("--method minres", line);
        Assert.DoesNotContain("not positive definite", line);
    }

    [Fact]
    public void MinresSolvesTheDampedIndefiniteHessianWhereCgRefuses()
    {
        var b = Rhs(565);
        var x = _dir.File("x.npy");
        string[] args = ["solve", .. ModelArgs("mlp"), "--curvature", "hessian", "--damping", "0.05", "--rhs", b, "--tol", "1e-10", "--out", x];
        var cg = OneErrorLine(Run(args), 1);
        Assert.Contains("IndefiniteDetected", cg);
        Assert.Contains("--method minres", cg);

        var run = Run([.. args, "--method", "minres"]);
        Assert.True(run.ExitCode == 0, run.ToString());
        var files = Load("mlp");
        var hessian = new HessianOperator<double>(files.Model, files.Loss, files.Data);
        var residual = (hessian + new IdentityOperator<double>(hessian.InputSpace) * 0.05).MatVec(Npy.Read<double>(x));
        Autodiff.FiniteDifference.AssertClose(Npy.Read<double>(b), residual, 1e-9, "(H + 0.05 I) x = b");
    }

    [Theory]
    [InlineData("hutchinson", "1")]
    [InlineData("hutchpp", "3")]
    [InlineData("xtrace", "2")]
    public void TheSmallestLegalTraceSampleKeepsItsEstimateWithANullStandardError(string method, string samples)
    {
        var output = _dir.File("t.json");
        var run = Run(["trace", .. ModelArgs("mlp"), "--curvature", "ggn", "--method", method, "--samples", samples, "--out", output]);
        Assert.True(run.ExitCode == 0, run.ToString());
        using var json = JsonDocument.Parse(File.ReadAllText(output));
        Assert.True(double.IsFinite(json.RootElement.GetProperty("trace").GetDouble()));
        var se = json.RootElement.GetProperty("standard_error");
        Assert.True(se.ValueKind == JsonValueKind.Null || double.IsFinite(se.GetDouble()), se.GetRawText());
    }

    public static TheoryData<string, string[], string> BadOptionValues() => new()
    {
        { "eigs", ["--tol", "0"], "--tol must be in (0, 1), got '0'" },
        { "eigs", ["--tol", "NaN"], "--tol must be in (0, 1)" },
        { "solve", ["--max-iterations", "-5"], "--max-iterations must be a positive integer, got '-5'" },
        { "solve", ["--damping", "-1"], "--damping must be finite and >= 0, got '-1'" },
        { "solve", ["--damping", "Infinity"], "--damping must be finite and >= 0" },
        { "solve", ["--tol", "1"], "--tol must be in (0, 1), got '1'" },
        { "trace", ["--method", "hutchpp", "--samples", "10"], "--samples 10: --method hutchpp needs a multiple of 3 (nearest: 9 or 12)" },
        { "trace", ["--method", "xtrace", "--samples", "5"], "--samples 5: --method xtrace needs a multiple of 2 (nearest: 4 or 6)" },
        { "diag", ["--method", "xdiag", "--samples", "1"], "--samples 1: --method xdiag needs a multiple of 2 (nearest: 2)" },
        { "matvec", ["--curvature", "fisher-mc", "--mc-samples", "2147483647"], "--mc-samples must be a positive integer of at most 10000" },
        { "density", ["--points", "1000000000"], "--points must be a positive integer of at most 100000" },
        { "density", ["--probes", "1000000000"], "--probes must be a positive integer of at most 10000" },
    };

    [Theory]
    [MemberData(nameof(BadOptionValues))]
    public void BadOptionValuesAreUsageErrorsNamingTheOptionBeforeAnyFileIsRead(string command, string[] extra, string mention)
    {
        // An unreadable spec: had anything been loaded, the error would be about model.json.
        var model = _dir.File("model.json");
        File.WriteAllText(model, "{ not json");
        string[] files = ["--model", model, "--weights", CliRunner.Model("mlp", "weights.safetensors"), "--data", CliRunner.Model("mlp", "data.safetensors")];
        string[] rest = command switch
        {
            "matvec" => ["--vector", Rhs(565), "--out", _dir.File("o.npy")],
            "solve" => ["--curvature", "ggn", "--rhs", Rhs(565), "--out", _dir.File("o.npy")],
            "density" => ["--curvature", "ggn", "--out", _dir.File("s.json"), "--plot", _dir.File("s.svg")],
            _ => ["--curvature", "ggn", "--out", _dir.File("o.out")],
        };
        var line = OneErrorLine(Run([command, .. files, .. rest, .. extra]), 2);
        Assert.Contains(mention, line);
        Assert.DoesNotContain("model.json", line);
    }

    [Fact]
    public void TheHelpOfTraceAndDiagSaysWhichSampleCountsAreValid()
    {
        var trace = Run("trace", "--help");
        Assert.Contains("multiple of 3", trace.Out);
        Assert.Contains("even", trace.Out);
        Assert.Contains("even", Run("diag", "--help").Out);
    }

    [Fact]
    public void AnOverflowingLossIsRefusedLikeAnOverflowingGradient()
    {
        // mlp_mse with its weights scaled by 1e200: the squared error overflows to infinity.
        var weights = _dir.File("w.safetensors");
        var file = SafetensorsFile.Read(CliRunner.Model("mlp_mse", "weights.safetensors"));
        var scaled = file.Names.ToDictionary(n => n, n =>
        {
            var t = file.GetTensor<double>(n);
            foreach (ref var v in t.Span) v *= 1e200;
            return (object)t;
        });
        SafetensorsFile.Write(weights, scaled);
        string[] args = ["--model", CliRunner.Model("mlp_mse", "model.json"), "--weights", weights, "--data", CliRunner.Model("mlp_mse", "data.safetensors")];

        var loss = OneErrorLine(Run(["loss", .. args]), 1);
        Assert.Contains("the loss is", loss);
        Assert.Contains("overflow", loss);
        var grad = OneErrorLine(Run(["grad", .. args, "--out", _dir.File("g.npy")]), 1);
        Assert.Contains("overflow", grad);
    }
}

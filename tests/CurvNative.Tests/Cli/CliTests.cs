using System.Text.Json;
using CurvNative.Cli;
using CurvNative.Interop;
using CurvNative.NN.Losses;
using CurvNative.Operators.Curvature;
using CurvNative.Operators.Curvature.Kfac;
using CurvNative.Tensors;
using Xunit;
using static CurvNative.Tests.NN.PyTorchFixtureTests;

namespace CurvNative.Tests.Cli;

/// <summary>The curvnative commands run in-process on the committed PyTorch fixtures.</summary>
public sealed class CliTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("curvnative-cli-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static (int Code, string Out, string Err) Run(params string[] args)
    {
        var stdout = new StringWriter(); var stderr = new StringWriter();
        int code = App.Run(args, stdout, stderr);
        return (code, stdout.ToString(), stderr.ToString());
    }

    private static string[] Files(string model) =>
        ["--model", Fixture("models", model, "model.json"), "--weights", Fixture("models", model, "weights.safetensors"), "--data", Fixture("models", model, "data.safetensors")];

    private string Temp(string name) => Path.Combine(_dir, name);

    private static void AssertOneLineError((int Code, string Out, string Err) r, int code, params string[] mentions)
    {
        Assert.Equal(code, r.Code);
        var lines = r.Err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(lines.Length == 1, $"expected one line on stderr, got: {r.Err}");
        Assert.StartsWith("curvnative: error: ", lines[0]);
        foreach (var m in mentions) Assert.Contains(m, lines[0]);
    }

    public static TheoryData<string, string> GradientCases()
    {
        var d = new TheoryData<string, string>();
        foreach (var m in new[] { "mlp", "cnn", "mlp_mse", "mlp_bce" })
            foreach (var b in new[] { "", "1", "4", "5" }) d.Add(m, b);
        return d;
    }

    [Theory]
    [MemberData(nameof(GradientCases))]
    public void GradAndLossMatchPyTorchForAnyBatchSize(string model, string batch)
    {
        string[] batchArgs = batch == "" ? [] : ["--batch-size", batch];
        var r = Run(["grad", .. Files(model), "--out", Temp("g.npy"), .. batchArgs]);
        Assert.True(r.Code == 0, r.Err);
        var expected = Npy.Read<double>(Fixture("models", model, "grad.npy"));
        Autodiff.FiniteDifference.AssertClose(expected, Npy.Read<double>(Temp("g.npy")), 1e-10, "gradient");

        var l = Run(["loss", .. Files(model), .. batchArgs]);
        Assert.True(l.Code == 0, l.Err);
        using var json = JsonDocument.Parse(File.ReadAllText(Fixture("models", model, "loss.json")));
        double want = json.RootElement.GetProperty("loss").GetDouble();
        Assert.Equal(want, double.Parse(l.Out.Trim(), System.Globalization.CultureInfo.InvariantCulture), 1e-10 * Math.Abs(want));
    }

    [Fact]
    public void Float32GradientIsCloseToFloat64()
    {
        var r = Run(["grad", .. Files("cnn"), "--out", Temp("g32.npy"), "--dtype", "float32", "--batch-size", "3"]);
        Assert.True(r.Code == 0, r.Err);
        var g32 = Npy.Read<float>(Temp("g32.npy"));
        Autodiff.FiniteDifference.AssertClose(Npy.Read<double>(Fixture("models", "cnn", "grad.npy")), g32.Cast<double>(), 1e-4, "float32 gradient");
    }

    [Theory]
    [InlineData("hessian")]
    [InlineData("ggn")]
    [InlineData("ef")]
    [InlineData("fisher-mc")]
    [InlineData("kfac")]
    [InlineData("ekfac")]
    public void MatvecEqualsTheLibraryOperatorAndDoesNotDependOnTheBatchSize(string curvature)
    {
        var files = ModelFiles<double>.Load(Fixture("models", "mlp", "model.json"), Fixture("models", "mlp", "weights.safetensors"), Fixture("models", "mlp", "data.safetensors"));
        int p = files.Parameters.Sum(q => q.Length);
        var v = Tensor<double>.Zeros(p, 2);
        var rng = new Random(3);
        for (int i = 0; i < v.Length; i++) v.Span[i] = rng.NextDouble() - 0.5;
        Npy.Write(Temp("v.npy"), v);
        var request = new CurvatureRequest { Kind = CurvatureRequest.ParseKind(curvature), FisherType = FisherType.Type2, McSamples = 2, Seed = 7 };
        var expected = request.Build(files.Model, files.Loss, files.Data).MatMat(v);
        foreach (var batch in new[] { "13", "4" })
        {
            string[] extra = curvature is "kfac" or "ekfac" ? ["--fisher-type", "type-2"] : curvature == "fisher-mc" ? ["--mc-samples", "2", "--seed", "7"] : [];
            var r = Run(["matvec", .. Files("mlp"), "--curvature", curvature, "--vector", Temp("v.npy"), "--out", Temp("o.npy"), "--batch-size", batch, .. extra]);
            Assert.True(r.Code == 0, r.Err);
            Autodiff.FiniteDifference.AssertClose(expected, Npy.Read<double>(Temp("o.npy")), 1e-10, $"{curvature} batch {batch}");
        }
    }

    [Fact]
    public void AnalysisCommandsWriteTheirOutputs()
    {
        var rng = new Random(5);
        var files = ModelFiles<double>.Load(Fixture("models", "mlp", "model.json"), Fixture("models", "mlp", "weights.safetensors"), Fixture("models", "mlp", "data.safetensors"));
        int p = files.Parameters.Sum(q => q.Length);
        var b = Tensor<double>.Zeros(p);
        for (int i = 0; i < p; i++) b.Span[i] = rng.NextDouble();
        Npy.Write(Temp("b.npy"), b);
        var ggn = new GgnOperator<double>(files.Model, files.Loss, files.Data);
        var dense = ggn.ToDense();

        var r = Run(["trace", .. Files("mlp"), "--curvature", "ggn", "--method", "exact", "--out", Temp("t.json")]);
        Assert.True(r.Code == 0, r.Err);
        double trace = 0;
        for (int i = 0; i < p; i++) trace += dense[i, i];
        using (var t = JsonDocument.Parse(File.ReadAllText(Temp("t.json"))))
            Assert.Equal(trace, t.RootElement.GetProperty("trace").GetDouble(), 1e-10 * trace);

        r = Run(["eigs", .. Files("mlp"), "--curvature", "ggn", "--k", "3", "--out", Temp("e.json")]);
        Assert.True(r.Code == 0, r.Err);
        var w = new double[p];
        CurvNative.Native.Lapack.SymmetricEigen<double>(p, dense.Clone().Span, w, computeVectors: false);
        using (var e = JsonDocument.Parse(File.ReadAllText(Temp("e.json"))))
        {
            var got = e.RootElement.GetProperty("eigenvalues").EnumerateArray().Select(x => x.GetDouble()).ToArray();
            Assert.Equal(w.OrderByDescending(x => x).Take(3).ToArray(), got, (x, y) => Math.Abs(x - y) <= 1e-6 * Math.Abs(w.Max()));
        }

        r = Run(["diag", .. Files("mlp"), "--curvature", "ggn", "--method", "exact", "--out", Temp("d.npy")]);
        Assert.True(r.Code == 0, r.Err);
        Assert.Equal(dense[7, 7], Npy.Read<double>(Temp("d.npy")).Span[7], 1e-12);

        r = Run(["solve", .. Files("mlp"), "--curvature", "ggn", "--damping", "0.1", "--rhs", Temp("b.npy"), "--method", "cg", "--tol", "1e-10", "--out", Temp("x.npy")]);
        Assert.True(r.Code == 0, r.Err);
        var x = Npy.Read<double>(Temp("x.npy"));
        var residual = (ggn + new CurvNative.Operators.IdentityOperator<double>(ggn.InputSpace) * 0.1).MatVec(x);
        Autodiff.FiniteDifference.AssertClose(b, residual, 1e-8, "(GGN + 0.1 I) x = b");

        r = Run(["density", .. Files("mlp"), "--curvature", "hessian", "--out", Temp("s.json"), "--plot", Temp("s.svg"), Temp("s.png"), "--quiet"]);
        Assert.True(r.Code == 0, r.Err);
        Assert.Equal("svg", System.Xml.Linq.XDocument.Load(Temp("s.svg")).Root!.Name.LocalName);
        Assert.Equal(Plots.LineChartTests.PngSignature, File.ReadAllBytes(Temp("s.png"))[..8]);
        AssertOneLineError(Run(["density", .. Files("mlp"), "--curvature", "hessian", "--out", Temp("s2.json"), "--plot", Temp("s2.pdf"), "--quiet"]), 2, ".png or .svg");
        Assert.False(File.Exists(Temp("s2.json")));
        using var s = JsonDocument.Parse(File.ReadAllText(Temp("s.json")));
        Assert.Equal(s.RootElement.GetProperty("grid").GetArrayLength(), s.RootElement.GetProperty("density").GetArrayLength());
    }

    [Fact]
    public void BadInputsGiveOneClearLineAndNoOutputFile()
    {
        string o = Temp("out.npy");
        // Truncated weights.
        var bytes = File.ReadAllBytes(Fixture("models", "mlp", "weights.safetensors"));
        File.WriteAllBytes(Temp("trunc.safetensors"), bytes[..(bytes.Length / 2)]);
        var files = Files("mlp");
        files[3] = Temp("trunc.safetensors");
        AssertOneLineError(Run(["grad", .. files, "--out", o]), 1, "trunc.safetensors");
        Assert.False(File.Exists(o));

        // Weights of another model: missing key / shape mismatch.
        files = Files("mlp");
        files[3] = Fixture("models", "mlp_mse", "weights.safetensors");
        AssertOneLineError(Run(["grad", .. files, "--out", o]), 1, "weights.safetensors");
        Assert.False(File.Exists(o));

        // NaN in the weights.
        var w = SafetensorsFile.Read(Fixture("models", "mlp", "weights.safetensors"));
        var tensors = w.Names.ToDictionary(n => n, n => (object)w.GetTensor<double>(n));
        ((Tensor<double>)tensors["2.weight"]).Span[3] = double.NaN;
        SafetensorsFile.Write(Temp("nan.safetensors"), tensors);
        files = Files("mlp");
        files[3] = Temp("nan.safetensors");
        AssertOneLineError(Run(["grad", .. files, "--out", o]), 1, "nan.safetensors", "2.weight");

        // Unknown layer type.
        File.WriteAllText(Temp("bad.json"), File.ReadAllText(Fixture("models", "mlp", "model.json")).Replace("\"tanh\"", "\"swish\""));
        files = Files("mlp");
        files[1] = Temp("bad.json");
        AssertOneLineError(Run(["loss", .. files]), 1, "bad.json", "swish");

        // Missing file, bad batch size, unknown curvature, vector of the wrong length.
        files = Files("mlp");
        files[5] = Temp("missing.safetensors");
        AssertOneLineError(Run(["grad", .. files, "--out", o]), 1, "missing.safetensors");
        AssertOneLineError(Run(["grad", .. Files("mlp"), "--out", o, "--batch-size", "0"]), 2, "--batch-size");
        Npy.Write(Temp("short.npy"), Tensor<double>.Zeros(10));
        AssertOneLineError(Run(["matvec", .. Files("mlp"), "--curvature", "curvy", "--vector", Temp("short.npy"), "--out", o]), 2, "curvy");
        AssertOneLineError(Run(["matvec", .. Files("mlp"), "--curvature", "ggn", "--vector", Temp("short.npy"), "--out", o]), 1, "short.npy", "565");
        // KFAC on a model whose data is fine but with an unsupported request: k larger than P.
        AssertOneLineError(Run(["eigs", .. Files("mlp"), "--curvature", "ggn", "--k", "9999", "--out", Temp("e.json")]), 2, "9999");
        Assert.False(File.Exists(o));
        Assert.False(File.Exists(Temp("e.json")));
        Assert.Empty(Directory.GetFiles(_dir, "*.tmp"));
    }

    [Fact]
    public void DemoRunsQuietlyAndReportsBothModels()
    {
        var r = Run("demo", "--epochs", "1", "--quiet");
        Assert.True(r.Code == 0, r.Err);
        Assert.Contains("MLP", r.Out);
        Assert.Contains("CNN", r.Out);
        Assert.Contains("%", r.Out);
    }
}

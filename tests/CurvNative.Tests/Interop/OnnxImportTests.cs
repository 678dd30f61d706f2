using System.Text.Json;
using CurvNative.Autodiff;
using CurvNative.Interop;
using CurvNative.Interop.Onnx;
using CurvNative.NN.Losses;
using CurvNative.NN.Modules;
using CurvNative.NN.Training;
using CurvNative.Operators;
using CurvNative.Operators.Curvature;
using CurvNative.Operators.Curvature.Kfac;
using CurvNative.Tensors;
using Xunit;
using static CurvNative.Tests.NN.PyTorchFixtureTests;

namespace CurvNative.Tests.Interop;

/// <summary>
/// ONNX models exported by PyTorch 1.13 (tests/fixtures/onnx, tools/make_onnx_fixtures.py): the import against
/// PyTorch's float64 output, loss and gradient; against the model.json route written by tools/export_model.py for
/// the same model, every curvature product bit for bit; and the errors for graphs it does not support.
/// </summary>
public sealed class OnnxImportTests
{
    public static TheoryData<string> AllCases() => new("mlp", "cnn", "mlp_bce", "resmlp", "rescnn", "cnn_view");

    /// <summary>The nn.Sequential cases, which also have the model.json route.</summary>
    public static TheoryData<string> SpecCases() => new("mlp", "cnn", "mlp_bce");

    private static string Onnx(string name, string file = "model.onnx") => Fixture("onnx", name, file);

    private static SafetensorsFile Reference(string name) => SafetensorsFile.Read(Onnx(name, "reference.safetensors"));

    private static LossSpec ReferenceLoss(SafetensorsFile reference)
        => new(reference.Metadata["loss"], LossSpec.ParseReduction(reference.Metadata["reduction"])!.Value);

    private static ModelFiles<double> LoadOnnx(string name)
    {
        var reference = Reference(name);
        return ModelFiles<double>.Load(Onnx(name), null, Onnx(name, "data.safetensors"), ReferenceLoss(reference));
    }

    private static ModelFiles<double> LoadSpec(string name)
        => ModelFiles<double>.Load(Onnx(name, "model.json"), Onnx(name, "weights.safetensors"), Onnx(name, "data.safetensors"));

    private static void AssertClose(ReadOnlySpan<double> actual, ReadOnlySpan<double> expected, double tolerance, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        double err = Cli.CliRunner.RelativeError(actual, expected);
        Assert.True(err <= tolerance, $"{what}: relative error {err:E2} > {tolerance:E0}");
    }

    [Theory]
    [MemberData(nameof(AllCases))]
    public void OutputLossAndGradientMatchPyTorch(string name)
    {
        var reference = Reference(name);
        var files = LoadOnnx(name);
        var batch = files.Data.Batches().Single();
        var output = files.Model.Forward(Var<double>.Constant(batch.X));
        var expectedOutput = reference.GetTensor<double>("output");
        Assert.Equal(expectedOutput.ShapeArray, output.Value.ShapeArray);
        AssertClose(output.Value.Span, expectedOutput.Span, 1e-13, $"{name} output");

        var loss = files.Loss.Forward(output, batch.Y);
        var grad = ParameterVector.Flatten(Autograd.Grad(loss, files.Parameters.Select(p => p.Var).ToList()));
        double expectedLoss = reference.GetTensor<double>("loss").Span[0];
        Assert.True(Math.Abs(loss.Value.ToScalar() - expectedLoss) <= 1e-13 * Math.Abs(expectedLoss), $"{name}: loss {loss.Value.ToScalar():R} vs PyTorch {expectedLoss:R}");
        AssertClose(grad.Span, reference.GetTensor<double>("grad").Span, 1e-12, $"{name} gradient");
    }

    [Theory]
    [MemberData(nameof(AllCases))]
    public void ParametersAreNamedAndOrderedAsInPyTorch(string name)
    {
        var reference = Reference(name);
        var expected = JsonSerializer.Deserialize<string[]>(reference.Metadata["param_names"])!;
        Assert.Equal(expected, LoadOnnx(name).Parameters.Select(p => p.Name).ToArray());
    }

    [Theory]
    [InlineData("mlp", null, 13L)]
    [InlineData("cnn", 5, 17L)]
    [InlineData("resmlp", null, 14L)]
    [InlineData("rescnn", 4, 17L)]
    [InlineData("cnn_view", null, 13L)]
    public void BatchAxisAndOpsetAreRead(string name, int? fixedBatch, long opset)
    {
        var model = OnnxModel.Load(Onnx(name));
        Assert.Equal(fixedBatch, model.FixedBatchSize);
        Assert.Equal(opset, model.OpsetVersion);
        var data = SafetensorsFile.Read(Onnx(name, "data.safetensors")).GetTensor<double>("x");
        Assert.Equal(data.Shape[1..].ToArray(), model.InputShape);
    }

    [Theory]
    [InlineData("cnn")]
    [InlineData("rescnn")]
    public void FixedBatchModelsEvaluateOtherBatchSizes(string name)
    {
        // Every supported op acts per sample, so the batch size fixed at export does not bind the import.
        var files = LoadOnnx(name);
        var full = new DataSetObjective<double>(files.Model, files.Loss, files.Data).LossAndGradient();
        var (loss, grad) = new DataSetObjective<double>(files.Model, files.Loss, files.Data, 3).LossAndGradient();
        Assert.True(Math.Abs(loss - full.Loss) <= 1e-13 * Math.Abs(full.Loss));
        AssertClose(grad.Span, full.Gradient.Span, 1e-13, $"{name} batched gradient");
        Assert.NotEqual(3, OnnxModel.Load(Onnx(name)).FixedBatchSize);
    }

    [Theory]
    [MemberData(nameof(SpecCases))]
    public void ExportModelWritesTheSameModelAsOnnx(string name)
    {
        // tools/export_model.py's files: the same structure, names, shapes and loss as the ONNX route.
        var spec = LoadSpec(name);
        var onnx = LoadOnnx(name);
        Assert.Equal(onnx.LossSpec, spec.LossSpec);
        Assert.Equal(onnx.InputShape, spec.InputShape);
        Assert.Equal(onnx.OutputShape, spec.OutputShape);
        Assert.Equal(onnx.Model.ToString(), spec.Model.ToString());
        Assert.Equal(onnx.Parameters.Select(p => p.Name), spec.Parameters.Select(p => p.Name));
        for (int i = 0; i < onnx.Parameters.Count; i++)
            Assert.True(onnx.Parameters[i].Value.Span.SequenceEqual(spec.Parameters[i].Value.Span), $"{name}: {onnx.Parameters[i].Name} differs");
        // And the model.json route reproduces PyTorch too.
        var reference = Reference(name);
        var grad = new DataSetObjective<double>(spec.Model, spec.Loss, spec.Data).Gradient();
        AssertClose(grad.Span, reference.GetTensor<double>("grad").Span, 1e-12, $"{name} model.json gradient");
    }

    public static TheoryData<string, string, string> CurvatureProducts()
    {
        var data = new TheoryData<string, string, string>();
        foreach (var name in new[] { "mlp", "cnn", "mlp_bce" })
        {
            foreach (var kind in new[] { "hessian", "ggn", "ef", "fisher-mc" }) data.Add(name, kind, "");
            foreach (var fisher in new[] { "type-2", "mc", "empirical", "forward-only" }) data.Add(name, "kfac", fisher);
            foreach (var fisher in new[] { "type-2", "mc", "empirical" }) data.Add(name, "ekfac", fisher); // EKFAC needs gradients
            data.Add(name, "jacobian", "");
            data.Add(name, "jacobian-transpose", "");
        }
        return data;
    }

    private static LinearOperator<double> Operator(ModelFiles<double> files, string kind, string fisher) => kind switch
    {
        "jacobian" => new JacobianOperator<double>(files.Model, files.Data),
        "jacobian-transpose" => new JacobianTransposeOperator<double>(files.Model, files.Data),
        _ => new CurvatureRequest
        {
            Kind = CurvatureRequest.ParseKind(kind),
            McSamples = 2,
            Seed = 7,
            BatchSize = 2,
            FisherType = fisher.Length == 0 ? FisherType.MonteCarlo : CurvatureRequest.ParseFisherType(fisher),
        }.Build(files.Model, files.Loss, files.Data),
    };

    [Theory]
    [MemberData(nameof(CurvatureProducts))]
    public void EveryCurvatureProductEqualsTheModelJsonRoute(string name, string kind, string fisher)
    {
        var onnx = Operator(LoadOnnx(name), kind, fisher);
        var spec = Operator(LoadSpec(name), kind, fisher);
        Assert.Equal((spec.Rows, spec.Columns), (onnx.Rows, onnx.Columns));
        var rng = new Random(11);
        var v = Tensor<double>.Zeros(onnx.Columns, 3);
        for (int i = 0; i < v.Length; i++) v.Span[i] = rng.NextDouble() - 0.5;
        var a = onnx.MatMat(v);
        var b = spec.MatMat(v);
        Assert.True(a.Span.SequenceEqual(b.Span), $"{name} {kind} {fisher}: the ONNX route differs from model.json (relative {Cli.CliRunner.RelativeError(a.Span, b.Span):E2})");
        Assert.True(a.Span.ToArray().Any(x => x != 0), "the product is zero: the comparison would prove nothing");
    }

    [Fact]
    public void LossOverrideReplacesTheSpecsLoss()
    {
        var mean = LoadSpec("mlp");
        var sum = ModelFiles<double>.Load(Onnx("mlp", "model.json"), Onnx("mlp", "weights.safetensors"), Onnx("mlp", "data.safetensors"), new LossSpec("cross_entropy", Reduction.Sum));
        Assert.Equal(Reduction.Mean, mean.LossSpec.Reduction);
        double lossMean = new DataSetObjective<double>(mean.Model, mean.Loss, mean.Data).Loss();
        double lossSum = new DataSetObjective<double>(sum.Model, sum.Loss, sum.Data).Loss();
        Assert.Equal(lossMean * mean.Data.Count, lossSum, 12);
    }

    [Fact]
    public void OnnxWithoutALossIsAnArgumentError()
    {
        var e = Assert.Throws<ArgumentException>(() => ModelFiles<double>.Load(Onnx("mlp"), null, Onnx("mlp", "data.safetensors")));
        Assert.Contains("carries no loss", e.Message);
    }

    [Fact]
    public void TargetsOfTheWrongKindForTheLossOverrideAreAFormatError()
    {
        // The data are checked against the loss given on the command line, as against model.json's own.
        var e = Assert.Throws<CurvNativeFormatException>(() => ModelFiles<double>.Load(Onnx("rescnn"), null, Onnx("rescnn", "data.safetensors"), new LossSpec("mse", Reduction.Mean)));
        Assert.Contains("key 'y'", e.Message); // class indices are not float targets of shape [N, 3]
    }

    [Fact]
    public void UnsupportedOpNamesTheNodeAndOpType()
    {
        var e = Assert.Throws<CurvNativeFormatException>(() => OnnxModel.Load(Onnx("unsupported")));
        Assert.Contains("'/1/LeakyRelu'", e.Message);
        Assert.Contains("op type 'LeakyRelu'", e.Message);
        Assert.StartsWith(Onnx("unsupported"), e.Message);
    }
}

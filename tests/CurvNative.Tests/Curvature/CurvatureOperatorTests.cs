using CurvNative.NN.Losses;
using CurvNative.NN.Modules;
using CurvNative.Operators.Curvature;
using CurvNative.Tensors;
using Xunit;
using static CurvNative.Tests.Curvature.Problem;

namespace CurvNative.Tests.Curvature;

/// <summary>Hessian, GGN, empirical Fisher, MC Fisher and Jacobians against independent dense
/// float64 computations, over MLP and CNN, three losses, both reductions, and uneven batches.</summary>
public class CurvatureOperatorTests
{
    public static TheoryData<string, string, Reduction> Problems()
    {
        var data = new TheoryData<string, string, Reduction>();
        foreach (var m in new[] { "mlp", "cnn" })
            foreach (var l in new[] { "ce", "mse", "bce" })
                foreach (var r in new[] { Reduction.Mean, Reduction.Sum })
                    data.Add(m, l, r);
        return data;
    }

    // N = 7 in batches of 3: batches of 3, 3 and 1 exercise the normalisation of a smaller last batch.
    private static CurvatureOptions Batched => new() { BatchSize = 3 };

    [Theory]
    [MemberData(nameof(Problems))]
    public void HessianMatchesDenseHessian(string model, string loss, Reduction reduction)
    {
        var p = Create(model, loss, reduction);
        var op = new HessianOperator<double>(p.Model, p.Loss, p.Data, Batched);
        AssertRelative(p.Hessian(), op.ToDense(), 1e-10, p.Name);
    }

    [Theory]
    [MemberData(nameof(Problems))]
    public void GgnMatchesJacobianTransposeLossHessianJacobian(string model, string loss, Reduction reduction)
    {
        var p = Create(model, loss, reduction);
        var op = new GgnOperator<double>(p.Model, p.Loss, p.Data, Batched);
        AssertRelative(p.Ggn(), op.ToDense(), 1e-10, p.Name);
    }

    [Theory]
    [MemberData(nameof(Problems))]
    public void EmpiricalFisherMatchesPerSampleGradients(string model, string loss, Reduction reduction)
    {
        var p = Create(model, loss, reduction);
        var op = new EmpiricalFisherOperator<double>(p.Model, p.Loss, p.Data, Batched);
        AssertRelative(p.EmpiricalFisher(), op.ToDense(), 1e-10, p.Name);
    }

    [Theory]
    [InlineData("mlp")]
    [InlineData("cnn")]
    public void JacobianAndTransposeMatchDenseJacobian(string model)
    {
        var p = Create(model, "mse", Reduction.Mean);
        var j = new JacobianOperator<double>(p.Model, p.Data, Batched);
        var dense = p.Jacobian();
        AssertRelative(dense, j.ToDense(), 1e-12, "J");
        AssertRelative(TensorOps.Permute(dense, [1, 0]), j.Transpose().ToDense(), 1e-12, "J^T");
        AssertRelative(TensorOps.Permute(dense, [1, 0]), new JacobianTransposeOperator<double>(p.Model, p.Data).ToDense(), 1e-12, "J^T direct");
    }

    [Fact]
    public void ProductsDoNotDependOnTheBatchSize()
    {
        var p = Create("mlp", "ce", Reduction.Mean, n: 11);
        var v = Rand(new Random(4), [p.P, 2]);
        var reference = new GgnOperator<double>(p.Model, p.Loss, p.Data).MatMat(v);
        foreach (var b in new[] { 1, 2, 4, 10, 11 })
        {
            var options = new CurvatureOptions { BatchSize = b };
            AssertRelative(reference, new GgnOperator<double>(p.Model, p.Loss, p.Data, options).MatMat(v), 1e-12, $"GGN batch {b}");
            AssertRelative(new HessianOperator<double>(p.Model, p.Loss, p.Data).MatMat(v), new HessianOperator<double>(p.Model, p.Loss, p.Data, options).MatMat(v), 1e-12, $"Hessian batch {b}");
            AssertRelative(new FisherMcOperator<double>(p.Model, p.Loss, p.Data, samples: 3, seed: 5).MatMat(v),
                new FisherMcOperator<double>(p.Model, p.Loss, p.Data, samples: 3, seed: 5, options).MatMat(v), 1e-12, $"MC Fisher batch {b}");
        }
    }

    [Fact]
    public void ParameterSubsetIsTheDenseSubmatrix()
    {
        var p = Create("mlp", "ce", Reduction.Mean);
        string[] names = ["2.weight", "0.bias"];
        var op = new HessianOperator<double>(p.Model, p.Loss, p.Data, new CurvatureOptions { ParameterNames = names });
        Assert.Equal(p.Parameters.Where(q => names.Contains(q.Name)).Sum(q => q.Length), op.Columns);
        AssertRelative(p.Slice(p.Hessian(), names), op.ToDense(), 1e-10, "Hessian subset");
        var ggn = new GgnOperator<double>(p.Model, p.Loss, p.Data, new CurvatureOptions { ParameterNames = names });
        AssertRelative(p.Slice(p.Ggn(), names), ggn.ToDense(), 1e-10, "GGN subset");
    }

    [Theory]
    [InlineData("ce")]
    [InlineData("mse")]
    [InlineData("bce")]
    public void MonteCarloFisherConvergesToTheGgn(string loss)
    {
        var p = Create("mlp", loss, Reduction.Mean, n: 5);
        var ggn = p.Ggn();
        double Error(int samples) => RelativeError(ggn, new FisherMcOperator<double>(p.Model, p.Loss, p.Data, samples, seed: 11).ToDense());
        double few = Error(20), many = Error(2000);
        // The error of an average of M draws shrinks like 1/sqrt(M): a factor 10 from 20 to 2000.
        Assert.True(many < 0.1, $"MC Fisher with 2000 samples is {many:E2} away from the GGN");
        Assert.True(many < few / 3, $"error {few:E2} with 20 samples vs {many:E2} with 2000: not converging like 1/sqrt(M)");
    }

    [Fact]
    public void OperatorsAreSymmetricAndGgnFamilyIsPsd()
    {
        var p = Create("cnn", "ce", Reduction.Mean);
        var h = new HessianOperator<double>(p.Model, p.Loss, p.Data).ToDense();
        AssertRelative(h, TensorOps.Permute(h, [1, 0]), 1e-12, "Hessian symmetry");
        var g = new GgnOperator<double>(p.Model, p.Loss, p.Data);
        Assert.True(g.IsSymmetric && g.IsPositiveSemiDefinite);
        var dense = g.ToDense();
        var w = new double[p.P];
        CurvNative.Native.Lapack.SymmetricEigen<double>(p.P, dense.Span, w, computeVectors: false);
        Assert.True(w.Min() > -1e-12 * w.Max(), $"GGN has eigenvalue {w.Min():E3}");
    }

    [Fact]
    public void NonDeterministicModelIsRejectedUnlessTheCheckIsOff()
    {
        var rng = new Random(2);
        var model = new Sequential<double>(new Linear<double>("0", 4, 6, rng: rng), new Dropout<double>(0.5), new Linear<double>("2", 6, 3, rng: rng));
        var p = Create("mlp", "ce", Reduction.Mean);
        var e = Assert.Throws<InvalidOperationException>(() => new GgnOperator<double>(model, p.Loss, p.Data));
        Assert.Contains("not deterministic", e.Message);
        Assert.Contains("Eval", e.Message);
        _ = new GgnOperator<double>(model, p.Loss, p.Data, new CurvatureOptions { CheckDeterministic = false });
        model.Eval();
        _ = new GgnOperator<double>(model, p.Loss, p.Data);
    }

    [Fact]
    public void BadOptionsAreClearErrors()
    {
        var p = Create("mlp", "ce", Reduction.Mean);
        var e = Assert.Throws<ArgumentException>(() => new HessianOperator<double>(p.Model, p.Loss, p.Data, new CurvatureOptions { ParameterNames = ["9.weight"] }));
        Assert.Contains("9.weight", e.Message);
        Assert.Contains("0.weight", e.Message);
        Assert.ThrowsAny<ArgumentException>(() => new HessianOperator<double>(p.Model, p.Loss, p.Data, new CurvatureOptions { BatchSize = 0 }));
        Assert.ThrowsAny<ArgumentException>(() => new FisherMcOperator<double>(p.Model, p.Loss, p.Data, samples: 0));
        var op = new GgnOperator<double>(p.Model, p.Loss, p.Data);
        var bad = Assert.ThrowsAny<ArgumentException>(() => op.MatVec(Tensor<double>.Zeros(p.P + 1)));
        Assert.Contains((p.P + 1).ToString(), bad.Message);
    }
}

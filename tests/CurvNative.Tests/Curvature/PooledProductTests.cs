using CurvNative.Operators;
using CurvNative.Operators.Curvature;
using CurvNative.Operators.Curvature.Kfac;
using CurvNative.Tensors;
using Xunit;
using static CurvNative.Tests.Curvature.Problem;

namespace CurvNative.Tests.Curvature;

/// <summary>
/// The curvature products reuse dead intermediates through <see cref="TensorPool{T}"/> scopes. Inside a
/// test's scope that pools every buffer and poisons it with NaN on return (the library's own scopes inherit both),
/// every operator must give exactly what it gives without pooling: a buffer returned while still read would show.
/// </summary>
public class PooledProductTests
{
    public static TheoryData<string, string> Operators()
    {
        var data = new TheoryData<string, string>();
        foreach (var m in new[] { "mlp", "cnn" })
            foreach (var op in new[] { "hessian", "ggn", "ef", "fisher-mc", "jacobian", "jacobian-t", "kfac-type2", "kfac-mc", "ekfac" })
                data.Add(m, op);
        return data;
    }

    private static LinearOperator<double> Build(Problem p, string op)
    {
        var options = new CurvatureOptions { BatchSize = 3 };
        KfacOptions Kfac(FisherType t) => new() { FisherType = t, BatchSize = 3 };
        return op switch
        {
            "hessian" => new HessianOperator<double>(p.Model, p.Loss, p.Data, options),
            "ggn" => new GgnOperator<double>(p.Model, p.Loss, p.Data, options),
            "ef" => new EmpiricalFisherOperator<double>(p.Model, p.Loss, p.Data, options),
            "fisher-mc" => new FisherMcOperator<double>(p.Model, p.Loss, p.Data, samples: 3, seed: 5, options),
            "jacobian" => new JacobianOperator<double>(p.Model, p.Data, options),
            "jacobian-t" => new JacobianTransposeOperator<double>(p.Model, p.Data, options),
            "kfac-type2" => new KfacOperator<double>(p.Model, p.Loss, p.Data, Kfac(FisherType.Type2)),
            "kfac-mc" => new KfacOperator<double>(p.Model, p.Loss, p.Data, Kfac(FisherType.MonteCarlo)),
            "ekfac" => new EkfacOperator<double>(p.Model, p.Loss, p.Data, Kfac(FisherType.MonteCarlo)),
            _ => throw new ArgumentException(op),
        };
    }

    [Theory]
    [MemberData(nameof(Operators))]
    public void PoolingChangesNothing(string model, string op)
    {
        var p = Create(model, "ce", CurvNative.NN.Losses.Reduction.Mean);
        var plain = Build(p, op);
        var x = Rand(new Random(3), [plain.InputSpace.Dimension, 3]);
        var expected = plain.MatMat(x);
        using var pool = TensorPool<double>.Enter(minLength: 1, poison: true);
        for (int round = 0; round < 2; round++)
        {
            var pooled = Build(p, op); // construction (KFAC's passes, the determinism check) runs pooled too
            var got = pooled.MatMat(x);
            Assert.Equal(expected.ToArray(), got.ToArray());
        }
    }
}

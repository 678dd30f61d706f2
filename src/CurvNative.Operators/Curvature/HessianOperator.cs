using System.Numerics;
using CurvNative.Autodiff;
using CurvNative.NN.Data;
using CurvNative.NN.Losses;
using CurvNative.NN.Modules;
using CurvNative.Tensors;

namespace CurvNative.Operators.Curvature;

/// <summary>
/// The Hessian of the total loss with respect to the parameters, H = d^2 L / d theta^2, applied
/// matrix-free: H v = d/d theta &lt;dL/d theta, v&gt; (reverse-over-reverse, one forward and two
/// backward passes per batch and column; Pearlmutter 1994).
/// </summary>
public sealed class HessianOperator<T> : CurvatureOperator<T> where T : unmanaged, IFloatingPointIeee754<T>
{
    public HessianOperator(Module<T> model, Loss<T> loss, DataSet<T> data, CurvatureOptions? options = null)
        : base(model, loss, data, options, positiveSemiDefinite: false) => CheckDeterminism();

    private protected override void AccumulateBatch(Batch<T> batch, int start, T weight, Var<T>[][] columns, Tensor<T> y)
    {
        var leaves = Leaves;
        var loss = Loss.Forward(Model.Forward(Var<T>.Constant(batch.X)), batch.Y);
        var grad = Autograd.Grad(loss, leaves, createGraph: true);
        for (int k = 0; k < columns.Length; k++)
        {
            Var<T>? inner = null;
            for (int i = 0; i < grad.Length; i++)
            {
                var term = F.Sum(F.Mul(grad[i], columns[k][i]));
                inner = inner is null ? term : F.Add(inner, term);
            }
            AddColumn(y, k, Autograd.Grad(inner!, leaves), weight);
        }
    }
}
